"""Configuration: the schema and the YAML loader."""

from andon.config.loader import ConfigError, ConfigProblem, load_config, parse_config
from andon.config.schema import Config, LineConfig, ShiftConfig

__all__ = ["Config", "ConfigError", "ConfigProblem", "LineConfig", "ShiftConfig", "load_config", "parse_config"]
