"""Configuration: the driver config bases (core), the schema assembled with the drivers, the YAML loader."""
