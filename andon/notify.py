"""Andon notifications: each raise, escalation, acknowledgement and resolve told to the people and channels of
the call's tiers, by e-mail (SMTP), Teams, Slack, ntfy or a generic webhook, retried in the background.

Who is told: on ``raised`` and ``escalated`` the ``notify`` list of the tier the call is at; on ``acknowledged``
and ``resolved`` everyone of every tier it reached (they were told of it, they are told it is handled). A person
is told by e-mail at their ``email``; a group is its people; a channel gets one message. Every delivery is a row
of the delivery log (``GET /api/andons/{id}/notifications``): queued, then sent, or failed after
``notifications.attempts`` tries with a doubling wait. A delivery still queued when the server stops is sent
after the next start. Nothing here waits on the engine: events are queued on the loop and sent by one task.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select

from andon import i18n
from andon.andons import call_dict
from andon.clock import Clock
from andon.config.schema import Config, EscalationTier, NotificationsConfig
from andon.storage.store import Store
from andon.storage.tables import AndonCallRow, AndonEscalationRow, NotificationRow
from andon.times import iso

log = logging.getLogger(__name__)

STEPS = ("acknowledged", "resolved")


@dataclass(frozen=True)
class Delivery:
    """One message to one target."""

    id: int
    channel: str  # email, teams, slack, ntfy, webhook
    target: str  # the address, or the channel id
    subject: str
    text: str
    event: dict[str, Any]
    tried: int = 0  # tries already made (by the run before a restart)


def describe(message: dict[str, Any], language: str = i18n.DEFAULT) -> tuple[str, str]:
    """Return the subject and the text of an andon event, in ``language``."""
    t = i18n.Translator(language)
    call, event = message["call"], message["event"]
    subject = t(f"notify.subject_{event}", line=call["line"], station=call["station"], category=call["category"])
    who = {"acknowledged": call.get("acknowledged_by"), "resolved": call.get("resolved_by")}.get(event)
    text = t("notify.text", subject=subject, call=call["id"], tier=call["tier"], raised_at=call["raised_at"],
             by=t("notify.by", who=who) if who else "", note=t("notify.note", note=call["note"]) if call.get("note")
             else "")
    return subject, text


class Notifier:
    """Turn andon events into deliveries and send them from one background task."""

    def __init__(self, config: Config, store: Store, clock: Clock, *, queue_size: int = 10_000) -> None:
        self.config = config
        self.settings: NotificationsConfig = config.notifications
        self.store = store
        self.clock = clock
        self.people = {p.id: p for p in config.people}
        self.groups = {g.id: g.people for g in self.settings.groups}
        self.channels = {c.id: c for c in self.settings.channels}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Say whether any tier of any line names someone to tell."""
        return any(t.notify for line in self.config.lines for t in _all_tiers(line.andon))

    # --- on the loop ---------------------------------------------------------------------
    def on_event(self, message: dict[str, Any]) -> None:
        """Take an event from the hub; queue an andon event that is sent."""
        if message.get("type") != "andon" or message.get("event") not in self.settings.events:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.error("notifications: queue full (%d events); andon event of call %s not sent",
                      self.queue.maxsize, (message.get("call") or {}).get("id"))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send from ``loop`` from now on (deliveries left queued by the last run first)."""
        self._task = loop.create_task(self._run(), name="andon notifications")

    async def stop(self) -> None:
        """Stop sending; what is still queued stays in the log and is sent after the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    # --- who is told ------------------------------------------------------------------------
    def targets(self, message: dict[str, Any]) -> list[tuple[str, str, str]]:
        """Return (channel, target, person) for an event, each once, in the order the tiers name them."""
        call = message["call"]
        line = next((line for line in self.config.lines if line.id == call["line"]), None)
        if line is None:
            return []
        tiers = line.andon.tiers_for(call["category"])
        if not tiers:
            return []
        index = min(int(call["tier_index"]), len(tiers) - 1)
        chosen = tiers[: index + 1] if message["event"] in STEPS else [tiers[index]]
        out: dict[tuple[str, str], str] = {}
        for tier in chosen:
            for name in tier.notify:
                for channel, target, person in self._expand(name):
                    out.setdefault((channel, target), person)
        return [(channel, target, person) for (channel, target), person in out.items()]

    def _expand(self, name: str) -> list[tuple[str, str, str]]:
        if name in self.channels:
            return [(self.channels[name].type, name, "")]
        members = self.groups.get(name, [name])
        found = []
        for person_id in members:
            person = self.people.get(person_id)
            if person is None or not person.email:
                log.warning("notifications: %s has no e-mail address; not told", person_id)
                continue
            found.append(("email", person.email, person_id))
        return found

    # --- the task ---------------------------------------------------------------------------
    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.settings.timeout_seconds, follow_redirects=False) as client:
            sending: set[asyncio.Task[None]] = set()

            def send(delivery: Delivery) -> None:
                task = asyncio.create_task(self._deliver(client, delivery))
                sending.add(task)
                task.add_done_callback(sending.discard)

            try:
                for delivery in await asyncio.to_thread(self._unsent):
                    send(delivery)
            except Exception:  # the log cannot be read now: new events are still sent
                log.exception("notifications: the deliveries left queued could not be read")
            try:
                while True:
                    message = await self.queue.get()
                    try:
                        for delivery in await asyncio.to_thread(self._record, message):
                            send(delivery)
                    except Exception:
                        log.exception("notifications: andon event of call %s could not be queued",
                                      (message.get("call") or {}).get("id"))
            finally:
                for task in sending:
                    task.cancel()
                await asyncio.gather(*sending, return_exceptions=True)

    def language_of(self, channel: str, target: str, person: str) -> str:
        """Return the language a delivery is written in: the person's or the channel's, else the plant's."""
        chosen = self.people[person].language if person in self.people else None
        if chosen is None and channel != "email" and target in self.channels:
            chosen = self.channels[target].language
        return chosen or self.config.plant.language

    def _record(self, message: dict[str, Any]) -> list[Delivery]:
        """Write the event's deliveries to the log, queued; return them."""
        now = self.clock.now()
        rows = [
            NotificationRow(call_id=int(message["call"]["id"]), event=message["event"], channel=channel, target=target,
                            person=person, status="queued", attempts=0, last_error="", created_at=now, updated_at=now)
            for channel, target, person in self.targets(message)
        ]
        if not rows:
            return []
        with self.store.transaction() as s:
            s.add_all(rows)
            s.flush()
            ids = [r.id for r in rows]
        return [Delivery(i, r.channel, r.target, *describe(message, self.language_of(r.channel, r.target, r.person)),
                         message) for i, r in zip(ids, rows, strict=True)]

    def _unsent(self) -> list[Delivery]:
        """Return the deliveries a stopped server left queued (their event rebuilt from the call as it is now)."""
        out = []
        with self.store.session() as s:
            for row in s.execute(select(NotificationRow).where(NotificationRow.status == "queued")).scalars():
                call = s.get(AndonCallRow, row.call_id)
                if call is None:
                    continue
                escalations = list(s.execute(select(AndonEscalationRow).where(
                    AndonEscalationRow.call_id == call.id)).scalars())
                message = {"type": "andon", "event": row.event, "call": call_dict(call, escalations, self.clock.now())}
                subject, text = describe(message, self.language_of(row.channel, row.target, row.person or ""))
                out.append(Delivery(row.id, row.channel, row.target, subject, text, message, row.attempts))
        return out

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        wait = self.settings.backoff_seconds
        for attempt in range(min(delivery.tried, self.settings.attempts - 1) + 1, self.settings.attempts + 1):
            try:
                await self._send(client, delivery)
            except Exception as exc:  # any failure is one failed try: logged, retried, never raised
                error = f"{type(exc).__name__}: {exc}"[:500]
                last = attempt == self.settings.attempts
                await asyncio.to_thread(self._mark, delivery.id, "failed" if last else "queued", attempt, error)
                log.warning("notifications: %s to %s (call %s) failed, try %d of %d: %s", delivery.channel,
                            delivery.target, delivery.event["call"]["id"], attempt, self.settings.attempts, error)
                if last:
                    return
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.settings.max_backoff_seconds)
            else:
                await asyncio.to_thread(self._mark, delivery.id, "sent", attempt, "")
                return

    def _mark(self, row_id: int, status: str, attempts: int, error: str) -> None:
        with self.store.transaction() as s:
            row = s.get(NotificationRow, row_id)
            if row is not None:
                row.status, row.attempts, row.last_error, row.updated_at = status, attempts, error, self.clock.now()

    async def _send(self, client: httpx.AsyncClient, d: Delivery) -> None:
        if d.channel == "email":
            await asyncio.to_thread(self._mail, d)
            return
        url = self.channels[d.target].url
        if d.channel in ("teams", "slack"):
            reply = await client.post(url, json={"text": d.text})
        elif d.channel == "ntfy":
            urgent = d.event["event"] in ("raised", "escalated")
            reply = await client.post(url, content=d.text.encode(), headers={
                "Title": d.subject, "Priority": "high" if urgent else "default", "Tags": "rotating_light"
                if urgent else "white_check_mark"})
        else:
            reply = await client.post(url, json=d.event)
        if reply.status_code >= 300:
            raise RuntimeError(f"HTTP {reply.status_code}")

    def _mail(self, d: Delivery) -> None:
        smtp = self.settings.smtp
        assert smtp is not None  # the config refuses a person to tell without smtp
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = smtp.sender, d.target, d.subject
        mail.set_content(d.text + "\n")
        with smtplib.SMTP(smtp.host, smtp.port, timeout=self.settings.timeout_seconds) as server:
            if smtp.starttls:
                server.starttls()
            if smtp.username:
                server.login(smtp.username, smtp.password or "")
            server.send_message(mail)

    def log_of(self, call_id: int) -> list[dict[str, Any]]:
        """Return a call's delivery log, oldest first."""
        with self.store.session() as s:
            rows = s.execute(select(NotificationRow).where(NotificationRow.call_id == call_id)
                             .order_by(NotificationRow.id)).scalars()
            return [{"id": r.id, "event": r.event, "channel": r.channel, "target": r.target,
                     "person": r.person or None, "status": r.status, "attempts": r.attempts,
                     "last_error": r.last_error or None, "created_at": iso(r.created_at),
                     "updated_at": iso(r.updated_at)} for r in rows]


def _all_tiers(andon: Any) -> list[EscalationTier]:
    return [*andon.escalation, *(t for tiers in andon.escalation_by_category.values() for t in tiers)]
