"""SQLAlchemy 2 table models. Count events are append-only; everything else is small."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""


class CountEventRow(Base):
    """One counted event: good parts or scrap, at its event time (append-only)."""

    __tablename__ = "count_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Float, doc="Event time, epoch seconds UTC.")
    received_at: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    event_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    flags: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True, doc="Scrap reason code.")

    __table_args__ = (
        Index("ix_count_events_line_ts", "line_id", "ts", "kind", "count", "flags"),
        Index("ux_count_events_line_event_id", "line_id", "event_id", unique=True),
    )


class CounterStateRow(Base):
    """The last value of a cumulative counter, so a restart credits parts made while down."""

    __tablename__ = "counter_states"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pending: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)


class CounterIncidentRow(Base):
    """A counter baseline, reset, rollover, confirmed jump or credit after an outage."""

    __tablename__ = "counter_incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64), index=True)
    source_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))
    old_value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    new_value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class ShiftOverrideRow(Base):
    """A supervisor's takt or demand for one shift of one date on one line."""

    __tablename__ = "shift_overrides"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    date: Mapped[str] = mapped_column(String(10), primary_key=True)
    shift_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    takt_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    demand_per_shift: Mapped[int | None] = mapped_column(Integer, nullable=True)
    set_by: Mapped[str] = mapped_column(String(128), default="")
    set_at: Mapped[float] = mapped_column(Float)


class PlannedDowntimeRow(Base):
    """Planned downtime (maintenance, meeting) that is taken out of available time."""

    __tablename__ = "planned_downtime"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64), index=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")


class ProblemRow(Base):
    """A problem in the improvement loop, moving open -> plan -> do -> check -> act -> closed."""

    __tablename__ = "problems"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    line_id: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(128), default="")
    due_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    root_cause: Mapped[str] = mapped_column(Text, default="")
    countermeasure: Mapped[str] = mapped_column(Text, default="")
    countermeasure_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True, doc="The stop reason it attacks.")


class RowReasonRow(Base):
    """The reason written for one board row (by its start), optionally linked to a problem."""

    __tablename__ = "row_reasons"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_start: Mapped[float] = mapped_column(Float, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), nullable=True)
    written_by: Mapped[str] = mapped_column(String(128), default="")
    written_at: Mapped[float] = mapped_column(Float)


class RowSignoffRow(Base):
    """A supervisor's sign-off of one finished board row (by its start): who, from which device, and when."""

    __tablename__ = "row_signoffs"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_start: Mapped[float] = mapped_column(Float, primary_key=True)
    person: Mapped[str] = mapped_column(String(128), default="", doc="The person named in the request (\"by\").")
    token_name: Mapped[str] = mapped_column(String(128), default="", doc="The token (device) that signed.")
    signed_at: Mapped[float] = mapped_column(Float)


class HandoverNoteRow(Base):
    """A note the outgoing leader leaves on a line's shift for the next one."""

    __tablename__ = "handover_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    shift_date: Mapped[str] = mapped_column(String(10), doc="Local date the shift starts on (YYYY-MM-DD).")
    shift_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    person: Mapped[str] = mapped_column(String(128), default="")
    token_name: Mapped[str] = mapped_column(String(128), default="")
    written_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_handover_notes_shift", "line_id", "shift_date", "shift_id"),)


class HandoverAckRow(Base):
    """The incoming leader's acknowledgement of a line's shift handover: once per shift."""

    __tablename__ = "handover_acks"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shift_date: Mapped[str] = mapped_column(String(10), primary_key=True)
    shift_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(128), default="")
    token_name: Mapped[str] = mapped_column(String(128), default="")
    acknowledged_at: Mapped[float] = mapped_column(Float)


class NotificationRow(Base):
    """One delivery of an andon event to one person or channel: queued, then sent or failed after its tries."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16), doc="email, teams, slack, ntfy or webhook.")
    target: Mapped[str] = mapped_column(String(1024), doc="The e-mail address, or the channel id.")
    person: Mapped[str] = mapped_column(String(64), default="", doc="The person an e-mail is for.")
    status: Mapped[str] = mapped_column(String(16), doc="queued, sent or failed.")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_notifications_call", "call_id"), Index("ix_notifications_status", "status"))


class AndonCallRow(Base):
    """An andon call: raised -> acknowledged -> resolved, with its escalation tier."""

    __tablename__ = "andon_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    station: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="raised")
    raised_at: Mapped[float] = mapped_column(Float)
    raised_by: Mapped[str] = mapped_column(String(128), default="")
    acknowledged_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resolved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    tier_index: Mapped[int] = mapped_column(Integer, default=0)
    tier: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_andon_calls_line_state", "line_id", "state"),)


class AndonEscalationRow(Base):
    """One escalation step of an andon call."""

    __tablename__ = "andon_escalations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("andon_calls.id"), index=True)
    tier_index: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)


class ProblemLinkRow(Base):
    """A link from a problem to an andon call or a board row that caused it."""

    __tablename__ = "problem_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    andon_call_id: Mapped[int | None] = mapped_column(ForeignKey("andon_calls.id"), nullable=True)
    line_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_start: Mapped[float | None] = mapped_column(Float, nullable=True)


class ApiTokenRow(Base):
    """A bearer token created with ``andon token create``, stored as its SHA-256."""

    __tablename__ = "api_tokens"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class StorageProbeRow(Base):
    """One row the event writer rewrites to find out whether storage can write."""

    __tablename__ = "storage_probe"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Float)


class StopRow(Base):
    """A stop of a line: found from counts or a run signal (``detected``), or entered ahead (``planned``)."""

    __tablename__ = "stops"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float, nullable=True, doc="None while the stop is open.")
    origin: Mapped[str] = mapped_column(String(16), default="detected")
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True, doc="Reason code; None: unexplained.")
    reason_by: Mapped[str] = mapped_column(String(128), default="")
    reason_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_stops_line_start", "line_id", "start"),)


class StopSplitRow(Base):
    """A time at which a person split a line's stop in two."""

    __tablename__ = "stop_splits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128), default="")

    __table_args__ = (Index("ix_stop_splits_line_at", "line_id", "at"),)


QUARTER_SECONDS = 900  # count totals per line are kept per quarter hour of UTC epoch time


class CountQuarterRow(Base):
    """Good and scrap parts of a line per quarter hour, written with the events, for reports over weeks."""

    __tablename__ = "count_quarters"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    quarter: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False,
                                         doc="floor(event time / 900).")
    good: Mapped[int] = mapped_column(Integer, default=0)
    scrap: Mapped[int] = mapped_column(Integer, default=0)


class ScrapQuarterRow(Base):
    """Scrap parts of a line per quarter hour and reason ("" for none), written with the events."""

    __tablename__ = "scrap_quarters"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    quarter: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    parts: Mapped[int] = mapped_column(Integer, default=0)


# --- products, runs, not-scheduled periods and work orders (revision 0004) ---------------------------------


class ProductRunRow(Base):
    """A run: a period in which a line made one product (end null while it runs), and the changeover opening it."""

    __tablename__ = "product_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float, nullable=True)
    work_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    changeover_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    previous_product: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(32), default="")
    set_by: Mapped[str] = mapped_column(String(128), default="")
    set_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_product_runs_line_start", "line_id", "start"),)


class NotScheduledRow(Base):
    """A period a line is not planned to run (no crew, no orders, commissioning); end null: until further notice."""

    __tablename__ = "not_scheduled"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    until_first_count: Mapped[bool] = mapped_column(Boolean, default=False)
    set_by: Mapped[str] = mapped_column(String(128), default="")
    set_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_not_scheduled_line_start", "line_id", "start"),)


class WorkOrderRow(Base):
    """A work order: a quantity of one product to make on one line, planned -> started <-> paused -> completed."""

    __tablename__ = "work_orders"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    due: Mapped[float | None] = mapped_column(Float, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    completed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class ServerLeaseRow(Base):
    """Which server of an active/standby pair on one PostgreSQL is active, and until when (its lease)."""

    __tablename__ = "server_lease"
    name: Mapped[str] = mapped_column(String(32), primary_key=True, doc="The lease's name: one per database.")
    holder: Mapped[str] = mapped_column(String(200), doc="The active server's name.")
    url: Mapped[str] = mapped_column(String(500), default="", doc="Where clients reach the active server.")
    expires_at: Mapped[float] = mapped_column(Float, doc="Epoch seconds on the database's clock.")
    term: Mapped[int] = mapped_column(Integer, default=1, doc="Grows by one each time another server takes it.")
