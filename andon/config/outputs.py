"""The optional plant-wide outputs beside the MQTT state topics: a Sparkplug B edge node and UNS topics."""

from __future__ import annotations

from pydantic import Field

from andon.config.bases import StrictModel

_LEVEL = r"^[^/+#$][^/+#]*$"  # one topic level: no separator, no wildcard, not a $ system topic


class SparkplugOutputConfig(StrictModel):
    """Publish every line as a Sparkplug B device of one edge node (NBIRTH/DBIRTH, DDATA on change, NDEATH will)."""

    group: str = Field("andon", pattern=_LEVEL, description="Sparkplug group id of the edge node.")
    edge_node: str = Field("andon", pattern=_LEVEL, description="Edge node id; each line is a device under it.")


class UnsOutputConfig(StrictModel):
    """Publish every line's figures as retained JSON topics of a Unified Namespace."""

    enterprise: str = Field(..., pattern=_LEVEL, description="First topic level: the enterprise.")
    site: str = Field(..., pattern=_LEVEL, description="Second topic level: the site (plant).")
    area: str = Field("production", pattern=_LEVEL, description="Third topic level: the area of every line.")
    areas: dict[str, str] = Field(
        default_factory=dict, description="Area of a line by line id, where it is not `area`."
    )


class OutputsConfig(StrictModel):
    """Optional outputs on the plant's broker (`mqtt`), for SCADA and UNS consumers."""

    sparkplug: SparkplugOutputConfig | None = Field(
        None, description="Sparkplug B edge node of the plant's lines; absent: not published."
    )
    uns: UnsOutputConfig | None = Field(None, description="UNS topics of the plant's lines; absent: not published.")
