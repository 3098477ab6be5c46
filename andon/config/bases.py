"""The config keys every driver shares, whatever its protocol: the bases of the driver config models.

These are core: the engine reads counting keys (mode, bits, max_jump) from here, and drivers in
``devices/`` subclass them, so no driver is needed to read what a source counts.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from andon.lights import DEFAULT_FAIL_SAFE, LightPattern, PatternTable


class StrictModel(BaseModel):
    """A config model that refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid")


class SourceConfigBase(StrictModel):
    """Keys every count source has, whatever its protocol."""

    type: str = Field(description="Which driver reads this source.")
    id: str | None = Field(
        None, description="Name of this source, unique within its line (default: type and index)."
    )
    mode: Literal["cumulative", "increment", "pulse"] = Field(
        "increment",
        description="cumulative: a counter value; increment: each reading adds n; "
        "pulse: each edge adds 1 (debounced).",
    )
    kind: Literal["good", "scrap"] = Field("good", description="Whether this source counts good parts or scrap.")
    parts_per_cycle: int = Field(
        1, ge=1, description="Parts made per counted cycle (a 4-cavity mould: 4).", json_schema_extra={"unit": "parts"}
    )
    bits: Literal[16, 32, 64] = Field(
        32, description="Counter width, for rollover of cumulative counters.", json_schema_extra={"unit": "bits"}
    )
    signed: bool = Field(False, description="Whether the counter is a signed integer.")
    max_jump: int = Field(
        10_000, ge=1, description="Largest believable count from one reading; bigger jumps are rejected.",
        json_schema_extra={"unit": "parts"},
    )
    debounce_seconds: float = Field(
        0.0, ge=0, description="Pulse mode: edges closer together than this are one edge."
    )
    stale_after_seconds: float | None = Field(
        None,
        gt=0,
        description="Mark the line stale when this source sends nothing for this long (for sources "
        "that report regularly, such as polled counters); default: stale only while the driver "
        "reports the source offline.",
    )
    role: Literal["count", "run_signal", "fault_code", "product"] = Field(
        "count",
        description="count: the readings are parts; run_signal: a boolean (a PLC bit, a 0/1 MQTT payload) that "
        "is true while the line runs, so false opens a stop; fault_code: a number mapped by fault_codes to a "
        "stop reason (0 or an unmapped value: no fault); product: the value selects the product (the product "
        "sources mqtt_product, modbus_product, product_simulator).",
    )
    fault_codes: dict[int, str] | None = Field(
        None, description="role fault_code: PLC fault value -> stop reason code, e.g. {17: jam, 23: no_material}."
    )
    scrap_reason: str | None = Field(
        None, description="A scrap source (kind scrap) whose parts all have one reason code, e.g. a reject chute.",
    )

    # A source whose readings select the product (devices/product_source.py) sets this.
    selects_product: ClassVar[bool] = False

    @model_validator(mode="after")
    def _role_keys(self) -> SourceConfigBase:
        if (self.role == "product") != self.selects_product:
            raise ValueError("role product belongs to the product sources (mqtt_product, modbus_product, "
                             "product_simulator), and they have no other role")
        if self.role == "fault_code" and not self.fault_codes:
            raise ValueError("a fault_code source needs fault_codes: {value: reason code}")
        if self.role != "fault_code" and self.fault_codes is not None:
            raise ValueError("fault_codes belongs to a source with role fault_code")
        if self.scrap_reason is not None and (self.kind != "scrap" or self.role != "count"):
            raise ValueError("scrap_reason belongs to a count source with kind scrap")
        return self


class StackLightConfigBase(StrictModel):
    """Keys every stack light has, whatever its protocol."""

    id: str | None = Field(default=None, description="Name of this light, for logs.")
    fail_safe: LightPattern = Field(
        default=DEFAULT_FAIL_SAFE,
        description="Pattern shown when no line state arrives for fail_safe_after_seconds, before "
        "the first state, and for a stale line (default: yellow flashing alone).",
    )
    fail_safe_after_seconds: float = Field(
        default=15.0, gt=0, description="Go to fail-safe when no state was shown for this long."
    )
    refresh_seconds: float = Field(
        default=10.0, gt=0, description="Write the pattern again this often (power-cycled lights)."
    )
    retry_seconds: float = Field(
        default=2.0, gt=0, description="Wait this long before retrying a failed write."
    )
    patterns: PatternTable = Field(
        default=PatternTable(), description="Overrides of the default line-state-to-pattern rules."
    )


class ButtonConfigBase(StrictModel):
    """Keys every andon button has, whatever its protocol."""

    id: str | None = Field(default=None, description="Name of this button, recorded on calls.")
    repeat_guard_seconds: float = Field(
        default=1.0,
        ge=0,
        description="The same action for the same station and category within this time is one.",
    )


def topic_filter(text: str) -> str:
    """Check an MQTT topic filter as the standard has it (a broker or paho refuses any other)."""
    if not text:
        raise ValueError("a topic filter must not be empty")
    if "\x00" in text or len(text.encode("utf-8", "surrogatepass")) > 65535:
        raise ValueError("a topic filter holds no NUL character and is at most 65,535 bytes")
    levels = text.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"in topic filter {text!r}, # stands alone in the last level (a/b/#)")
        if "+" in level and level != "+":
            raise ValueError(f"in topic filter {text!r}, + stands alone in a level (a/+/c)")
    return text


def topic_name(text: str) -> str:
    """Check an MQTT topic to publish on: a filter without wildcards."""
    topic_filter(text)
    if "+" in text or "#" in text:
        raise ValueError(f"topic {text!r} is published on, so it holds no wildcard (+ or #)")
    return text


TopicFilter = Annotated[str, AfterValidator(topic_filter)]
TopicName = Annotated[str, AfterValidator(topic_name)]


class MqttConfig(StrictModel):
    """Broker used for MQTT sources and for publishing line state."""

    host: str = Field("127.0.0.1", description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    topic_prefix: str = Field("andon", description="Prefix of the topics this system publishes.")
    client_id: str = Field("andon", description="Client id; fixed so the broker keeps the session.")
    username: str | None = Field(None, description="User name, if the broker asks for one.")
    password: str | None = Field(
        None, description="Password; write ${NAME} (or ${NAME:-default}) to read it from the environment."
    )
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: str | None = Field(None, description="CA certificate file for TLS.")
    keepalive: int = Field(
        30, ge=5, description="Seconds between keepalive pings; the broker drops the client after 1.5 times this.",
        json_schema_extra={"unit": "s"},
    )
    state_qos: Literal[0, 1] = Field(
        1, description="QoS of live line states: 1 (each acknowledged by a QoS 1 subscriber, which keeps TCP's "
        "delayed acknowledgements from holding states back at the broker) or 0 (nothing kept for a subscriber "
        "away with a persistent session).",
    )
