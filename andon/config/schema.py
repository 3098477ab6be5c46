"""The configuration schema: plant, database, API, auth, MQTT, shifts and lines."""

from __future__ import annotations

import re
from datetime import time
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from devices import registry
from devices.base import SourceConfigBase, StrictModel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str) -> time:
    """Parse a local wall-clock time written as ``HH:MM``."""
    match = _HHMM.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a time of day written as HH:MM (00:00 to 23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def minutes_of_day(value: str) -> int:
    """Return minutes since local midnight for an ``HH:MM`` string."""
    t = parse_hhmm(value)
    return t.hour * 60 + t.minute


class PlantConfig(StrictModel):
    """The plant: its name and the timezone its shifts are written in."""

    name: str = Field("Plant", description="Plant name shown on pages and boards.")
    timezone: str = Field("UTC", description="IANA timezone of the plant, e.g. Europe/London.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value


class ApiConfig(StrictModel):
    """Where the HTTP API listens."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    max_body_bytes: int = Field(
        262_144, ge=1024, le=64 * 1024 * 1024,
        description="Largest request body taken; a bigger one gets 413 (the largest real body is ~60 KB).",
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=3600,
        description="A request's headers must arrive within this of its first byte, and its body within this "
        "again; else 408 and the connection is closed.",
    )
    idle_timeout_seconds: int = Field(
        5, ge=1, le=3600,
        description="A connection with no request in progress is closed after this long without one.",
    )


class TokenConfig(StrictModel):
    """One bearer token, stored as the SHA-256 of its secret."""

    name: str = Field(description="Who holds the token (recorded on what it changes).")
    role: Literal["operator", "supervisor", "engineer"] = Field(description="What the token may do.")
    token_sha256: str = Field(description="Hex SHA-256 of the token secret.", pattern=r"^[0-9a-fA-F]{64}$")


class AuthConfig(StrictModel):
    """Bearer-token auth. Without this section the API is open (single-machine demo)."""

    public_read: bool = Field(True, description="Allow reads without a token.")
    tokens: list[TokenConfig] = Field(default_factory=list, description="Tokens known from config.")


class MqttConfig(StrictModel):
    """Broker used for MQTT sources and for publishing line state."""

    host: str = Field("127.0.0.1", description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    topic_prefix: str = Field("andon", description="Prefix of the topics this system publishes.")
    client_id: str = Field("andon", description="Client id; fixed so the broker keeps the session.")
    username: str | None = Field(None, description="User name, if the broker asks for one.")
    password: str | None = Field(None, description="Password; write ${ENV_VAR} to read it from the environment.")
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: str | None = Field(None, description="CA certificate file for TLS.")
    keepalive: int = Field(30, ge=5, description="Keepalive seconds.")


class BreakConfig(StrictModel):
    """A break inside a shift, in local time."""

    start: str = Field(description="Local start time, HH:MM.")
    end: str = Field(description="Local end time, HH:MM.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value


class ShiftConfig(StrictModel):
    """A shift pattern in local time; it may cross midnight and belongs to the day it starts."""

    id: str = Field(description="Shift id, e.g. early.", pattern=r"^[A-Za-z0-9_.-]+$")
    name: str | None = Field(None, description="Name shown on boards (default: the id).")
    start: str = Field(description="Local start time, HH:MM.")
    end: str = Field(description="Local end time, HH:MM; before start means the next day.")
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), description="Weekdays the shift starts on.")
    breaks: list[BreakConfig] = Field(default_factory=list, description="Breaks within the shift.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    def span_minutes(self) -> tuple[int, int]:
        """Return (start, end) in minutes after the start day's midnight; end > start."""
        start = minutes_of_day(self.start)
        end = minutes_of_day(self.end)
        if end <= start:
            end += 24 * 60
        return start, end

    def break_spans(self) -> list[tuple[int, int]]:
        """Return each break as (start, end) minutes after the start day's midnight."""
        s_start, _ = self.span_minutes()
        spans = []
        for brk in self.breaks:
            b0 = minutes_of_day(brk.start)
            if b0 < s_start:
                b0 += 24 * 60
            length = (minutes_of_day(brk.end) - minutes_of_day(brk.start)) % (24 * 60)
            spans.append((b0, b0 + length))
        return spans

    @model_validator(mode="after")
    def _breaks_inside(self) -> ShiftConfig:
        if self.start == self.end:
            raise ValueError("shift start and end are the same time; a shift must have a length")
        if len(set(self.days)) != len(self.days):
            raise ValueError("days lists a weekday twice")
        s0, s1 = self.span_minutes()
        spans = self.break_spans()
        for brk, (b0, b1) in zip(self.breaks, spans, strict=True):
            if b1 == b0:
                raise ValueError(f"break {brk.start}-{brk.end} has no length")
            if b0 < s0 or b1 > s1:
                raise ValueError(
                    f"break {brk.start}-{brk.end} is outside the shift {self.start}-{self.end}"
                )
        ordered = sorted(spans)
        for (_a0, a1), (b0, _b1) in zip(ordered, ordered[1:], strict=False):
            if b0 < a1:
                raise ValueError("breaks overlap each other")
        return self


class ThresholdsConfig(StrictModel):
    """When the line turns warning or abnormal. Defaults: 1 and 3 parts behind, stop after 3 takts."""

    warning_behind: int = Field(1, ge=0, description="Warning when cumulative delta is below minus this.")
    abnormal_behind: int = Field(3, ge=0, description="Abnormal when cumulative delta is below minus this.")
    stop_after_seconds: float | None = Field(
        None, gt=0, description="Stopped (abnormal) after this long without a count in shift; default 3 takts."
    )

    @model_validator(mode="after")
    def _order(self) -> ThresholdsConfig:
        if self.abnormal_behind < self.warning_behind:
            raise ValueError("abnormal_behind must be at least warning_behind")
        return self


class EscalationTier(StrictModel):
    """One tier of escalation for an unacknowledged andon call."""

    tier: str = Field(description="Who is called at this tier, e.g. team_leader.")
    after_seconds: float | None = Field(None, ge=0, description="Seconds after raising.")
    after_takts: float | None = Field(None, ge=0, description="Takts after raising (alternative).")

    @model_validator(mode="after")
    def _one_limit(self) -> EscalationTier:
        if (self.after_seconds is None) == (self.after_takts is None):
            raise ValueError("give exactly one of after_seconds and after_takts")
        return self


def _driver_union(drivers: dict[str, registry.Driver], what: str) -> Any:
    models = tuple(d.config_model for d in drivers.values())
    if not models:
        return _no_driver_model(what)
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007


def _no_driver_model(what: str) -> Any:
    class NoDriver(StrictModel):
        type: str

        @model_validator(mode="after")
        def _refuse(self) -> Any:
            raise ValueError(f"no {what} drivers are installed; {self.type!r} is unknown")

    return NoDriver


if TYPE_CHECKING:
    SourceConfig = SourceConfigBase
    LightConfig = Any
    ButtonConfig = Any
else:
    SourceConfig = _driver_union(registry.sources(), "count source")
    LightConfig = _driver_union(registry.lights(), "stack light")
    ButtonConfig = _driver_union(registry.buttons(), "andon button")


class AndonConfig(StrictModel):
    """Andon categories, escalation tiers and the buttons that raise calls."""

    categories: list[str] = Field(
        default_factory=lambda: ["quality", "material", "maintenance", "safety", "help"],
        description="Categories an operator can raise.",
    )
    escalation: list[EscalationTier] = Field(
        default_factory=lambda: [EscalationTier(tier="team_leader", after_seconds=0)],
        description="Escalation tiers for every category without its own list.",
    )
    escalation_by_category: dict[str, list[EscalationTier]] = Field(
        default_factory=dict, description="Escalation tiers for particular categories."
    )
    webhook_url: str | None = Field(None, description="URL POSTed on every escalation (optional).")
    buttons: list[ButtonConfig] = Field(default_factory=list, description="Physical andon buttons.")

    @model_validator(mode="after")
    def _categories(self) -> AndonConfig:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("a category is listed twice")
        for category in self.escalation_by_category:
            if category not in self.categories:
                raise ValueError(f"escalation_by_category names unknown category {category!r}")
        return self

    def tiers_for(self, category: str) -> list[EscalationTier]:
        """Return the escalation tiers of one category."""
        return self.escalation_by_category.get(category, self.escalation)


class LineConfig(StrictModel):
    """A production line: its shifts, takt, counting sources, stack light and andon set-up."""

    id: str = Field(description="Line id used in URLs and topics.", pattern=r"^[A-Za-z0-9_-]+$")
    name: str | None = Field(None, description="Name shown on boards (default: the id).")
    shifts: list[str] | None = Field(None, description="Shift ids this line runs (default: all).")
    takt_seconds: float | None = Field(None, gt=0, description="Takt time in seconds.")
    demand_per_shift: int | None = Field(None, gt=0, description="Parts demanded per shift (alternative).")
    interval_minutes: int = Field(60, ge=1, le=1440, description="Length of each board row.")
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig, description="Condition limits.")
    sources: list[SourceConfig] = Field(default_factory=list, description="Count sources.")
    stack_light: LightConfig | None = Field(None, description="Stack light at the line.")
    andon: AndonConfig = Field(default_factory=AndonConfig, description="Andon set-up.")

    @model_validator(mode="after")
    def _takt_xor_demand(self) -> LineConfig:
        if self.takt_seconds is not None and self.demand_per_shift is not None:
            raise ValueError("give takt_seconds or demand_per_shift, not both")
        if self.takt_seconds is None and self.demand_per_shift is None:
            raise ValueError("give takt_seconds or demand_per_shift")
        ids = [s.id for s in self.sources if s.id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("two sources of this line have the same id")
        return self

    def source_ids(self) -> list[str]:
        """Return each source's id, defaulting to ``<type><index>``."""
        return [s.id or f"{s.type}{i}" for i, s in enumerate(self.sources)]

    @property
    def display_name(self) -> str:
        """Return the name shown to people."""
        return self.name or self.id


class Config(StrictModel):
    """The whole configuration file."""

    plant: PlantConfig = Field(default_factory=PlantConfig, description="The plant.")
    database: str = Field("sqlite:///andon.db", description="SQLAlchemy database URL.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API address.")
    auth: AuthConfig | None = Field(None, description="Bearer-token auth; absent means an open API.")
    mqtt: MqttConfig | None = Field(None, description="MQTT broker; absent means no broker is used.")
    shifts: list[ShiftConfig] = Field(description="Shift patterns of the plant.", min_length=1)
    lines: list[LineConfig] = Field(description="Production lines.", min_length=1)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        _unique([s.id for s in self.shifts], "shift")
        _unique([line.id for line in self.lines], "line")
        by_id = {s.id: s for s in self.shifts}
        for line in self.lines:
            for shift_id in line.shifts or []:
                if shift_id not in by_id:
                    raise ValueError(f"line {line.id!r} names unknown shift {shift_id!r}")
            used = [by_id[s] for s in (line.shifts or by_id)]
            _no_overlap(line.id, used)
        return self

    def line(self, line_id: str) -> LineConfig:
        """Return one line's config, or raise KeyError."""
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(line_id)

    def shifts_of(self, line: LineConfig) -> list[ShiftConfig]:
        """Return the shift patterns a line runs."""
        if line.shifts is None:
            return list(self.shifts)
        by_id = {s.id: s for s in self.shifts}
        return [by_id[s] for s in line.shifts]


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} id {i!r}")
        seen.add(i)


def _no_overlap(line_id: str, shifts: list[ShiftConfig]) -> None:
    """Refuse two shifts of one line that run at the same local time of the week."""
    week = 7 * 24 * 60
    spans: list[tuple[int, int, str]] = []
    for shift in shifts:
        s0, s1 = shift.span_minutes()
        for day in shift.days:
            base = WEEKDAYS.index(day) * 24 * 60
            a, b = base + s0, base + s1
            spans.append((a, min(b, week), shift.id))
            if b > week:
                spans.append((0, b - week, shift.id))
    spans.sort()
    for (_a0, a1, a_id), (b0, _b1, b_id) in zip(spans, spans[1:], strict=False):
        if b0 < a1 and a_id != b_id:
            raise ValueError(f"line {line_id!r} has overlapping shifts {a_id!r} and {b_id!r}")
