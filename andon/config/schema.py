"""The configuration schema: plant, database, API, auth, MQTT, shifts and lines."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from datetime import time
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from andon import i18n
from andon.config.bases import MqttConfig, SourceConfigBase, StrictModel
from andon.config.losses import CHANGEOVER_OVERRUN, LossesConfig, StopReason, default_stop_reasons
from andon.config.outputs import OutputsConfig
from andon.config.products import ChangeoverConfig, LineProductConfig, ProductConfig, check_products
from devices import catalog

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def located(message: str, *at: str | int) -> PydanticCustomError:
    """Return a cross-field error that names the key it is about, relative to the model that raises it."""
    return PydanticCustomError("config", message.replace("{", "{{").replace("}", "}}"), {"at": at})


def several(errors: list[PydanticCustomError]) -> PydanticCustomError:
    """Return the first cross-field error carrying the others (``also``: their messages and keys) for the loader."""
    first = errors[0]
    also = tuple((e.message(), (e.context or {}).get("at", ())) for e in errors[1:])
    return PydanticCustomError("config", first.message_template, {**(first.context or {}), "also": also})


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


HTTP_URL = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"  # a server's base URL: http:// or https://, a host, no query

# A language tag with a catalog, normalised (de-DE -> de, zh-CN -> zh-Hans); any other is refused with the choices.
Language = Annotated[str, AfterValidator(i18n.resolve)]


class PlantConfig(StrictModel):
    """The plant: its name and the timezone its shifts are written in."""

    name: str = Field("Plant", description="Plant name shown on pages and boards.")
    timezone: str = Field("UTC", description="IANA timezone of the plant, e.g. Europe/London.")
    language: Language = Field(
        i18n.DEFAULT,
        description="Language of pages, displays and notifications unless a device (?lang=, display option) or a "
        "person chooses another: en, de, es, pl or zh-Hans.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            guess = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
            hint = f"; did you mean {guess[0]}?" if guess else " (such as Europe/London or America/Chicago)"
            raise ValueError(f"unknown IANA timezone {value!r}{hint}") from exc
        return value


class AvailabilityConfig(StrictModel):
    """Two servers (`andon serve` or `andon run`) on one PostgreSQL database form an active/standby pair.

    The active holds a lease in the database and alone runs the writers, timers, notifications and count
    sources; the standby answers `/healthz` (`"role": "standby"`), points everything else at the active, and
    takes over within `lease_seconds` + 1 s of the active's loss. On SQLite there is one server: always active.
    """

    name: str | None = Field(
        None, max_length=160, description="This server's name, shown by the other one and in logs (default: its "
        "host name and API port); the lease tells the two processes apart even when their names are the same."
    )
    url: str | None = Field(
        None, max_length=500, pattern=HTTP_URL,
        description="Where clients reach this server (default: http://<host name>:<API port>); the standby sends "
        "callers there.",
    )
    servers: list[Annotated[str, Field(pattern=HTTP_URL, max_length=500)]] = Field(
        default_factory=list, max_length=8,
        description="The pair's URLs as browsers reach them: a page whose server is lost moves to the one that is "
        "active (its live stream down 3 s, the other's /healthz says active).",
    )
    lease_seconds: float = Field(
        6.0, ge=1.0, le=60.0, json_schema_extra={"unit": "s"},
        description="How long the active's lease lasts unrenewed; it renews every third of it and steps down when "
        "it could not for two thirds.",
    )


class ApiConfig(StrictModel):
    """Where the HTTP API listens."""

    host: str = Field(
        "127.0.0.1", description="Address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 for every network."
    )
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
            raise located("shift start and end are the same time; a shift must have a length", "end")
        if len(set(self.days)) != len(self.days):
            raise located("days lists a weekday twice", "days")
        s0, s1 = self.span_minutes()
        spans = self.break_spans()
        for index, (brk, (b0, b1)) in enumerate(zip(self.breaks, spans, strict=True)):
            if b1 == b0:
                raise located(f"break {brk.start}-{brk.end} has no length", "breaks", index)
            if b0 < s0 or b1 > s1:
                raise located(f"break {brk.start}-{brk.end} is outside the shift {self.start}-{self.end}",
                              "breaks", index)
        ordered = sorted(range(len(spans)), key=lambda i: spans[i])
        for a, b in zip(ordered, ordered[1:], strict=False):
            if spans[b][0] < spans[a][1]:
                raise located("breaks overlap each other", "breaks", max(a, b))
        return self


class ThresholdsConfig(StrictModel):
    """When the line turns warning or abnormal, and when a missed row asks for a reason.

    Defaults: warning more than 1 part behind, abnormal more than 3 behind, stopped after 3 takts
    without a count, a reason asked for a finished row more than 1 part short.
    """

    warning_behind: int = Field(
        1, ge=0, description="Warning when the line is more than this many parts behind plan (cumulative delta).",
        json_schema_extra={"unit": "parts"},
    )
    abnormal_behind: int = Field(
        3, ge=0, description="Abnormal when the line is more than this many parts behind plan (cumulative delta).",
        json_schema_extra={"unit": "parts"},
    )
    stop_after_seconds: float | None = Field(
        None, gt=0, description="Stopped (abnormal) after this long without a count in shift; default 3 takts."
    )
    reason_behind: int = Field(
        1, ge=0,
        description="A finished row asks for a reason when its delta is below minus this (0: every missed row).",
    )

    @model_validator(mode="after")
    def _order(self) -> ThresholdsConfig:
        if self.abnormal_behind < self.warning_behind:
            raise located("abnormal_behind must be at least warning_behind", "abnormal_behind")
        return self


class EscalationTier(StrictModel):
    """One tier of escalation for an unacknowledged andon call."""

    tier: str = Field(description="Who is called at this tier, e.g. team_leader.")
    after_seconds: float | None = Field(
        None, ge=0, description="Call this tier this long after the call was raised and not acknowledged."
    )
    after_takts: float | None = Field(
        None, ge=0, description="Or: after this many of the line's takt times (give one of the two).",
        json_schema_extra={"unit": "takts"},
    )

    notify: list[str] = Field(
        default_factory=list,
        description="Who is told when the call reaches this tier (and when it is acknowledged and resolved): "
        "person ids (by e-mail), group ids of notifications.groups, channel ids of notifications.channels.",
    )

    @model_validator(mode="after")
    def _one_limit(self) -> EscalationTier:
        if (self.after_seconds is None) == (self.after_takts is None):
            raise ValueError("give exactly one of after_seconds and after_takts")
        return self


def _driver_union(drivers: dict[str, catalog.Driver], what: str) -> Any:
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
    SourceConfig = _driver_union(catalog.sources(), "count source")
    LightConfig = _driver_union(catalog.lights(), "stack light")
    ButtonConfig = _driver_union(catalog.buttons(), "andon button")


class Station(StrictModel):
    """A station at the line where an andon call can be raised."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$", description="Station id, recorded on calls.")
    name: str | None = Field(None, max_length=64, description="Name shown on the tablet (default: the id).")

    @model_validator(mode="before")
    @classmethod
    def _from_id(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value

    @property
    def label(self) -> str:
        """Return the name shown for the station."""
        return self.name or self.id


class AndonConfig(StrictModel):
    """Andon categories, stations, escalation tiers and the buttons that raise calls."""

    categories: list[str] = Field(
        default_factory=lambda: ["quality", "material", "maintenance", "safety", "help"],
        description="Categories an operator can raise.",
    )
    stations: list[Station] = Field(
        default_factory=list,
        description="Stations calls may be raised at (ids, or {id, name}); empty: any station name.",
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
            raise located("a category is listed twice", "categories")
        ids = [s.id for s in self.stations]
        if len(set(ids)) != len(ids):
            raise located("a station is listed twice", "stations")
        for index, button in enumerate(self.buttons):
            station = getattr(button, "station", None)
            if ids and station is not None and station not in ids:
                raise located(f"a button names station {station!r}, which is not in stations {ids}",
                              "buttons", index, "station")
        for category in self.escalation_by_category:
            if category not in self.categories:
                guess = difflib.get_close_matches(category, self.categories, n=1)
                hint = f"; did you mean {guess[0]}?" if guess else ""
                raise located(f"escalation_by_category names unknown category {category!r}{hint}",
                              "escalation_by_category", category)
        return self

    def station_ids(self) -> list[str]:
        """Return the configured station ids (empty: any station name is taken)."""
        return [s.id for s in self.stations]

    def tiers_for(self, category: str) -> list[EscalationTier]:
        """Return the escalation tiers of one category."""
        return self.escalation_by_category.get(category, self.escalation)


class LineConfig(StrictModel):
    """A production line: its shifts, takt, counting sources, stack light and andon set-up."""

    id: str = Field(description="Line id used in URLs and topics.", pattern=r"^[A-Za-z0-9_-]+$")
    name: str | None = Field(None, description="Name shown on boards (default: the id).")
    shifts: list[str] | None = Field(None, description="Shift ids this line runs (default: all).")
    takt_seconds: float | None = Field(
        None, ge=0.001, le=86400,
        description="Takt time: available time per part demanded. Give this or demand_per_shift.",
    )
    demand_per_shift: int | None = Field(
        None, gt=0, description="Parts demanded per shift; takt = net available time / demand.",
        json_schema_extra={"unit": "parts"},
    )
    interval_minutes: int = Field(
        60, ge=1, le=1440, description="Length of each board row, counted from the shift start."
    )
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig, description="Condition limits.")
    sources: list[SourceConfig] = Field(default_factory=list, description="Count sources.")
    stack_light: LightConfig | None = Field(None, description="Stack light at the line.")
    andon: AndonConfig = Field(default_factory=AndonConfig, description="Andon set-up.")
    # --- losses ---
    ideal_cycle_seconds: float | None = Field(
        None, gt=0, description="Ideal cycle time per part (the fastest the line is designed to run); "
        "performance and OEE need it. Not longer than the takt.",
    )
    losses: LossesConfig = Field(default_factory=LossesConfig, description="Small stops, reason prompts, problems.")
    stop_reasons: list[StopReason] = Field(
        default_factory=list, description="Stop reasons this line adds to the plant's reason tree.",
    )
    # --- products (docs/products.md) ---
    products: list[LineProductConfig] = Field(
        default_factory=list,
        description="Products this line may run (ids, or {id, ...} with this line's own figures); until one is set "
        "the line makes the first. Without products the line's takt_seconds or demand_per_shift is its plan.",
    )
    changeover: ChangeoverConfig | None = Field(
        None, description="Planned changeover times between this line's products (absent: changes are not timed)."
    )

    @model_validator(mode="after")
    def _takt_xor_demand(self) -> LineConfig:
        if self.takt_seconds is not None and self.demand_per_shift is not None:
            raise ValueError("give takt_seconds or demand_per_shift, not both")
        if self.takt_seconds is None and self.demand_per_shift is None and not self.products:
            raise ValueError("give takt_seconds or demand_per_shift")
        seen: set[str] = set()
        for index, source in enumerate(self.sources):
            if source.id is not None and source.id in seen:
                raise located(f"two sources of this line have the id {source.id!r}", "sources", index, "id")
            if source.id is not None:
                seen.add(source.id)
        return self

    def source_ids(self) -> list[str]:
        """Return each source's id, defaulting to ``<type><index>``."""
        return [s.id or f"{s.type}{i}" for i, s in enumerate(self.sources)]

    @property
    def display_name(self) -> str:
        """Return the name shown to people."""
        return self.name or self.id


class AreaConfig(StrictModel):
    """An area of the plant: a group of lines reported together."""

    id: str = Field(description="Area id used in URLs.", pattern=r"^[A-Za-z0-9_-]+$")
    name: str | None = Field(None, description="Name shown on pages (default: the id).")
    lines: list[str] = Field(min_length=1, description="Ids of the area's lines.")
    leader: str | None = Field(None, max_length=128, description="Who leads the area (a name, a person id).")


class PersonConfig(StrictModel):
    """A person of the plant: who acknowledges, resolves, gives reasons and signs off, by id or badge."""

    id: str = Field(description="Person id, as actions name them in \"by\".", pattern=r"^[A-Za-z0-9_.@-]+$",
                    max_length=64)
    name: str | None = Field(None, max_length=128, description="Name shown to people (default: the id).")
    badge: str | None = Field(None, min_length=1, max_length=64,
                              description="Badge number or tag a reader sends; \"by\" may give it instead of the id.")
    role: Literal["operator", "supervisor", "engineer"] | None = Field(None, description="The person's role.")
    area: str | None = Field(None, description="The area the person works in (an id of areas).")
    language: Language | None = Field(
        None, description="Language of the person's notifications (en, de, es, pl, zh-Hans; default: the plant's)."
    )
    email: str | None = Field(None, max_length=256, description="E-mail address for notifications.")
    phone: str | None = Field(None, max_length=64, description="Phone number for notifications.")
    chat: str | None = Field(None, max_length=256, description="Chat handle (Teams, Slack) for notifications.")


class PlantLinkConfig(StrictModel):
    """Another plant's andon server, read by GET /api/enterprise."""

    id: str = Field(description="Plant id in the enterprise view.", pattern=r"^[A-Za-z0-9_-]+$", max_length=64)
    name: str | None = Field(None, max_length=128, description="Name shown (default: the id).")
    url: str = Field(description="The server's base URL, http:// or https:// (such as http://andon.leeds:8000); "
                     "an active/standby pair as two, comma-separated (the active one is read).",
                     pattern=r"^https?://[^\s/?#,]+(/[^\s?#,]*)?(, ?https?://[^\s/?#,]+(/[^\s?#,]*)?)?$",
                     max_length=1024)
    token: str | None = Field(None, max_length=512,
                              description="A bearer token of that server, when its reads are closed (${ENV} works).")


class EnterpriseConfig(StrictModel):
    """The plants GET /api/enterprise brings together (this one first)."""

    plants: list[PlantLinkConfig] = Field(default_factory=list, description="Other plants' servers.")
    timeout_seconds: float = Field(
        3.0, gt=0, le=60, description="A plant not answering within this is shown as unreachable.",
    )


AndonEventWord = Literal["raised", "escalated", "acknowledged", "resolved"]
ANDON_EVENTS: tuple[AndonEventWord, ...] = ("raised", "escalated", "acknowledged", "resolved")


class SmtpConfig(StrictModel):
    """The mail server notifications are sent through, to people's e-mail addresses."""

    host: str = Field(max_length=256, description="SMTP server host.")
    port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    sender: str = Field(max_length=256, description="The From address, such as andon@plant.example.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    username: str | None = Field(None, max_length=256, description="Login user, if the server wants one.")
    password: str | None = Field(None, max_length=512, description="Login password (${ENV} works).")


class ChannelConfig(StrictModel):
    """A place notifications are posted: a Teams or Slack incoming webhook, an ntfy topic, a generic webhook."""

    id: str = Field(description="Channel id, named by escalation tiers' notify.", pattern=r"^[A-Za-z0-9_-]+$",
                    max_length=64)
    type: Literal["teams", "slack", "ntfy", "webhook"] = Field(
        description="teams and slack: a {text} message; ntfy: the text with a title and priority; webhook: the "
        "andon event's JSON.",
    )
    url: str = Field(description="The incoming webhook or ntfy topic URL (http:// or https://).",
                     pattern=r"^https?://[^\s/?#]+(/[^\s#]*)?$", max_length=1024)
    language: Language | None = Field(
        None, description="Language of the channel's messages (en, de, es, pl, zh-Hans; default: the plant's)."
    )


class GroupConfig(StrictModel):
    """People told together (an escalation tier names the group)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=64, description="Group id.")
    people: list[str] = Field(min_length=1, description="Person ids of people:.")


class NotificationsConfig(StrictModel):
    """How andon calls reach people: e-mail, Teams, Slack, ntfy and webhooks, retried in the background."""

    smtp: SmtpConfig | None = Field(None, description="Mail server for people's e-mail (absent: no e-mail).")
    channels: list[ChannelConfig] = Field(default_factory=list, description="Chat and push channels.")
    groups: list[GroupConfig] = Field(default_factory=list, description="Groups of people.")
    events: list[AndonEventWord] = Field(
        default_factory=lambda: list(ANDON_EVENTS),
        description="Which andon events are sent.",
    )
    attempts: int = Field(8, ge=1, le=100, description="Tries per delivery before it is marked failed.")
    backoff_seconds: float = Field(2.0, gt=0, le=3600, description="Wait before the first retry; doubles each try.")
    max_backoff_seconds: float = Field(300.0, gt=0, le=86400, description="Longest wait between tries.")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Time a server has to take one delivery.")


class SqdcConfig(StrictModel):
    """The rules that colour a day of the SQDC board (GET /api/sqdc) red; a day without data is none."""

    safety_categories: list[str] = Field(
        default_factory=lambda: ["safety"],
        description="Andon categories that are safety: a call of one raised on a day makes its S red.",
    )
    max_scrap_rate: float = Field(
        0.02, ge=0, le=1, description="Q is red on a day whose scrap / (good + scrap) is above this.",
    )
    min_attainment: float = Field(
        1.0, ge=0, le=10, description="D is red on a day whose actual / planned is below this.",
    )
    max_downtime_minutes: float = Field(
        60.0, ge=0, le=1440, description="C is red on a day a line lost more than this many minutes to stops.",
    )


# sqlite://, sqlite:///:memory: and the like: SQLite's in-memory database.
IN_MEMORY_SQLITE = re.compile(r"^sqlite(\+\w+)?://(/(:memory:)?)?(\?.*)?$")


class Config(StrictModel):
    """The whole configuration file."""

    plant: PlantConfig = Field(default_factory=PlantConfig, description="The plant.")
    database: str = Field(
        "sqlite:///andon.db",
        description="SQLAlchemy database URL: sqlite:///FILE (relative to the working directory; sqlite:////abs/path) "
        "or postgresql+psycopg://user@host/db (extra postgres).",
    )
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API address.")
    availability: AvailabilityConfig = Field(
        default_factory=AvailabilityConfig,
        description="Active/standby pair: two servers on one PostgreSQL database (docs/availability.md).",
    )
    auth: AuthConfig | None = Field(None, description="Bearer-token auth; absent means an open API.")
    mqtt: MqttConfig | None = Field(None, description="MQTT broker; absent means no broker is used.")
    outputs: OutputsConfig = Field(
        default_factory=OutputsConfig, description="Sparkplug B and UNS publishing on the broker (optional)."
    )
    shifts: list[ShiftConfig] = Field(description="Shift patterns of the plant.", min_length=1)
    lines: list[LineConfig] = Field(description="Production lines.", min_length=1)
    areas: list[AreaConfig] = Field(default_factory=list, description="Areas grouping lines (plant -> area -> line).")
    sqdc: SqdcConfig = Field(default_factory=SqdcConfig, description="Rules of the SQDC board's red days.")
    enterprise: EnterpriseConfig = Field(
        default_factory=EnterpriseConfig, description="Other plants' servers for the enterprise view.",
    )
    notifications: NotificationsConfig = Field(
        default_factory=NotificationsConfig, description="Where andon calls are sent (e-mail, Teams, Slack, ntfy).",
    )
    people: list[PersonConfig] = Field(
        default_factory=list,
        description="People of the plant; when listed, every \"by\" must name one by id or badge (else any text).",
    )
    stop_reasons: list[StopReason] | None = Field(
        None, description="The plant's stop reason tree (default: a built-in tree of breakdown, material, quality, "
        "changeover, no_operator, planned_maintenance, meeting and other reasons); changeover_overrun is added "
        "when missing.",
    )
    products: list[ProductConfig] = Field(
        default_factory=list, description="Products made in the plant; lines list the ones they may run."
    )

    @field_validator("database")
    @classmethod
    def _kept_database(cls, value: str) -> str:
        if IN_MEMORY_SQLITE.match(value) or ("sqlite" in value.split(":", 1)[0] and "mode=memory" in value):
            raise ValueError(
                f"{value!r} is a database in memory: every count would be lost when the process ends (and the "
                "server's threads cannot share it); give a file, such as sqlite:///andon.db"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        # Each check stops at its first error; the independent ones all run, so a file with several
        # mistakes is told all of them at once (as field errors are), not one per try.
        found: list[PydanticCustomError] = []
        checks: list[Callable[[], None]] = [
            lambda: _unique([s.id for s in self.shifts], "shift", "shifts"),
            lambda: _unique([line.id for line in self.lines], "line", "lines"),
            self._outputs_have_a_broker,
            lambda: check_products(self),
            # A line with its own shift list is checked on its own; the lines running every shift share one check.
            *(functools.partial(self._line_shifts, index) for index in self._shift_checked_lines()),
            lambda: _check_losses(self),
            lambda: _check_people(self),
            lambda: _check_enterprise(self),
            lambda: _check_notifications(self),
        ]
        for check in checks:
            try:
                check()
            except PydanticCustomError as error:
                found.append(error)
            except (KeyError, ValueError, IndexError):
                if not found:
                    raise
                # A check tripping over what an earlier one refused: that error is the one to fix first.
        if found:
            raise several(found)
        return self

    def _outputs_have_a_broker(self) -> None:
        if (self.outputs.sparkplug or self.outputs.uns) and self.mqtt is None:
            raise located("outputs publish on the plant's broker: add an mqtt section", "outputs")

    def _shift_checked_lines(self) -> list[int]:
        own = [i for i, line in enumerate(self.lines) if line.shifts is not None]
        every = [i for i, line in enumerate(self.lines) if line.shifts is None]
        return sorted(own + every[:1])

    def _line_shifts(self, index: int) -> None:
        """Refuse a line's unknown or overlapping shifts."""
        by_id = {s.id: s for s in self.shifts}
        line = self.lines[index]
        for place, shift_id in enumerate(line.shifts or []):
            if shift_id not in by_id:
                guess = difflib.get_close_matches(shift_id, list(by_id), n=1)
                hint = f"; did you mean {guess[0]}?" if guess else f"; the shifts are {', '.join(by_id)}"
                raise located(f"line {line.id!r} names unknown shift {shift_id!r}{hint}",
                              "lines", index, "shifts", place)
        used = [by_id[s] for s in (line.shifts or by_id)]
        overlap = _overlap(used)
        if overlap is not None:
            order = [s.id for s in self.shifts]
            later = max(order.index(overlap[0]), order.index(overlap[1]))
            at = ("lines", index, "shifts") if line.shifts else ("shifts", later)
            raise located(f"line {line.id!r} has overlapping shifts {overlap[0]!r} and {overlap[1]!r}", *at)

    def plant_reasons(self) -> list[StopReason]:
        """Return the plant's reason tree: the configured one (or the built-in one), with changeover_overrun."""
        reasons = list(self.stop_reasons) if self.stop_reasons is not None else default_stop_reasons()
        if all(r.code != CHANGEOVER_OVERRUN for r in reasons):
            reasons.append(StopReason(code=CHANGEOVER_OVERRUN, name="Changeover overrun", category="changeover"))
        return reasons

    def reasons_of(self, line: LineConfig) -> dict[str, StopReason]:
        """Return the reason tree of one line (the plant's and the line's own), by code, in order."""
        return {r.code: r for r in [*self.plant_reasons(), *line.stop_reasons]}

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


def _check_enterprise(config: Config) -> None:
    ids = [p.id for p in config.enterprise.plants]
    for index, plant_id in enumerate(ids):
        if plant_id in ids[:index]:
            raise located(f"duplicate plant id {plant_id!r}", "enterprise", "plants", index, "id")


def _check_notifications(config: Config) -> None:
    """Refuse duplicate channel or group ids, unknown group members and notify targets that name nothing."""
    n = config.notifications
    people = {p.id for p in config.people}
    channels = [c.id for c in n.channels]
    groups = [g.id for g in n.groups]
    for key, ids in (("channels", channels), ("groups", groups)):
        for index, i in enumerate(ids):
            if i in ids[:index]:
                raise located(f"duplicate id {i!r}", "notifications", key, index, "id")
    for index, group in enumerate(n.groups):
        for place, person in enumerate(group.people):
            if person not in people:
                raise located(f"group {group.id!r} names unknown person {person!r}", "notifications", "groups",
                              index, "people", place)
    targets = people | set(channels) | set(groups)
    for index, line in enumerate(config.lines):
        lists = [("escalation", None, line.andon.escalation)] + [
            ("escalation_by_category", c, tiers) for c, tiers in line.andon.escalation_by_category.items()]
        for key, category, tiers in lists:
            for t, tier in enumerate(tiers):
                for place, target in enumerate(tier.notify):
                    at: tuple[str | int, ...] = (
                        "lines", index, "andon", key, *(() if category is None else (category,)), t, "notify", place)
                    if target not in targets:
                        raise located(f"tier {tier.tier!r} notifies {target!r}: not a person, group or channel", *at)
                    if target in people and n.smtp is None:
                        raise located(f"tier {tier.tier!r} notifies person {target!r} by e-mail, but notifications "
                                      "has no smtp", *at)


def _check_people(config: Config) -> None:
    """Refuse two people with one id or one badge (or a badge that is another's id), and unknown areas."""
    _unique([p.id for p in config.people], "person", "people")
    areas = {a.id for a in config.areas}
    names: dict[str, str] = {p.id: p.id for p in config.people}
    for index, person in enumerate(config.people):
        if person.badge is not None:
            if person.badge in names and names[person.badge] != person.id:
                raise located(f"badge {person.badge!r} of {person.id!r} is already {names[person.badge]!r}'s",
                              "people", index, "badge")
            names[person.badge] = person.id
        if person.area is not None and person.area not in areas:
            raise located(f"person {person.id!r} names unknown area {person.area!r}", "people", index, "area")


def _unique(ids: list[str], what: str, key: str) -> None:
    seen: set[str] = set()
    for index, i in enumerate(ids):
        if i in seen:
            raise located(f"duplicate {what} id {i!r}", key, index, "id")
        seen.add(i)


def _overlap(shifts: list[ShiftConfig]) -> tuple[str, str] | None:
    """Return two shifts of one line that run at the same local time of the week (earlier first), if any."""
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
            return a_id, b_id
    return None


# --- losses ------------------------------------------------------------------------------------
def _net_minutes(shift: ShiftConfig) -> int:
    s0, s1 = shift.span_minutes()
    return s1 - s0 - sum(b1 - b0 for b0, b1 in shift.break_spans())


def _unknown_code(code: str, known: list[str], what: str, *at: str | int) -> PydanticCustomError:
    guess = difflib.get_close_matches(code, known, n=1)
    hint = f"; did you mean {guess[0]}?" if guess else "; stop_reasons lists the codes"
    return located(f"{what} names unknown stop reason {code!r}{hint}", *at)


def _check_losses(config: Config) -> None:
    """Refuse duplicate or unknown reason codes and an ideal cycle longer than the takt."""
    plant_codes = [r.code for r in config.stop_reasons or []]
    for index, code in enumerate(plant_codes):
        if code in plant_codes[:index]:
            raise located(f"stop reason {code!r} is listed twice", "stop_reasons", index, "code")
    line_ids = [line.id for line in config.lines]
    _unique([a.id for a in config.areas], "area", "areas")
    for index, area in enumerate(config.areas):
        for place, line_id in enumerate(area.lines):
            if line_id not in line_ids:
                raise located(f"area {area.id!r} names unknown line {line_id!r}", "areas", index, "lines", place)
    base = [r.code for r in config.plant_reasons()]
    by_shift = {s.id: s for s in config.shifts}
    for index, line in enumerate(config.lines):
        codes = list(base)
        for place, reason in enumerate(line.stop_reasons):
            if reason.code in codes:
                raise located(f"stop reason {reason.code!r} is already in the reason tree",
                              "lines", index, "stop_reasons", place, "code")
            codes.append(reason.code)
        for category, code in line.losses.andon_reasons.items():
            if category not in line.andon.categories:
                raise located(f"andon_reasons names andon category {category!r}, which is not in "
                              f"andon.categories {line.andon.categories}", "lines", index, "losses", "andon_reasons",
                              category)
            if code not in codes:
                raise _unknown_code(code, codes, "andon_reasons", "lines", index, "losses", "andon_reasons", category)
        for place, source in enumerate(line.sources):
            for value, code in (source.fault_codes or {}).items():
                if code not in codes:
                    raise _unknown_code(code, codes, "fault_codes", "lines", index, "sources", place,
                                        "fault_codes", value)
            for place_code, code in enumerate(getattr(source, "stop_reasons", None) or []):
                if code not in codes:
                    raise _unknown_code(code, codes, "stop_reasons", "lines", index, "sources", place,
                                        "stop_reasons", place_code)
            if source.scrap_reason is not None and source.scrap_reason not in codes:
                raise _unknown_code(source.scrap_reason, codes, "scrap_reason", "lines", index, "sources", place,
                                    "scrap_reason")
        ideal = line.ideal_cycle_seconds
        if ideal is None:
            continue
        if line.takt_seconds is not None and ideal > line.takt_seconds:
            raise located(f"ideal_cycle_seconds {ideal:g} is longer than the takt ({line.takt_seconds:g} s): the "
                          "line could never make its demand", "lines", index, "ideal_cycle_seconds")
        if line.demand_per_shift is not None:
            for shift in [by_shift[s] for s in (line.shifts or by_shift) if s in by_shift]:  # unknown: told apart
                takt = _net_minutes(shift) * 60 / line.demand_per_shift
                if ideal > takt:
                    raise located(f"ideal_cycle_seconds {ideal:g} is longer than the takt of shift {shift.id!r} "
                                  f"({takt:g} s): the line could never make its demand",
                                  "lines", index, "ideal_cycle_seconds")
