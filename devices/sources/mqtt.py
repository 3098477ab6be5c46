"""Counts from MQTT topics: QoS 1, a persistent session, and acknowledgement only after storage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from andon.config.bases import MqttConfig, SourceConfigBase
from andon.payload import INT_LIMIT, BadJson, excerpt, load_json, text_problem
from devices.base import CountSource, ReadingSink
from devices.catalog import Driver
from devices.connections import Connections

if TYPE_CHECKING:
    import paho.mqtt.client as paho

log = logging.getLogger(__name__)

MAX_EVENT_ID = 128  # the longest event id the plant keeps

# Connection refusals worth retrying: the broker is there but cannot take us right now.
_TRANSIENT_REFUSALS = {"Server unavailable", "Server busy", "Connection rate exceeded"}


class MqttSourceConfig(SourceConfigBase):
    """Counts published on an MQTT topic, as a bare number or a field of a JSON object."""

    type: Literal["mqtt"] = "mqtt"
    topic: str = Field(description="Topic filter to subscribe to; the wildcards + and # are allowed.")
    field: str | None = Field(
        None,
        description="JSON field holding the count (a.b reaches into objects); absent: bare number.",
    )
    time_field: str | None = Field(
        None,
        description="JSON field holding the event time: epoch seconds or ISO 8601 with offset.",
    )
    id_field: str | None = Field(None, description="JSON field holding the event id, for de-duplication.")
    qos: Literal[0, 1, 2] = Field(1, description="Subscription QoS; 1 or 2 lets the broker keep counts.")
    host: str | None = Field(None, description="Broker host, if not the plant's mqtt.host.")
    port: int | None = Field(None, ge=1, le=65535, description="Broker port, if not the plant's mqtt.port.")


class RejectedPayload(ValueError):
    """A payload that holds no usable count; ``reason`` is the short name counted in metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class MqttReading:
    """What one payload says: the count, its time (epoch seconds) and its event id."""

    value: int
    ts: float
    event_id: str | None


def _whole_number(raw: Any, what: str) -> int:
    """Return ``raw`` as an int, or reject it."""
    if isinstance(raw, bool) or raw is None or isinstance(raw, (dict, list)):
        raise RejectedPayload("not a number", f"{what} is {excerpt(raw)}")
    if isinstance(raw, str):
        text = raw.strip()
        if "_" in text:  # Python would read 1_000; a device never means that
            raise RejectedPayload("not a number", f"{what} is {excerpt(raw)}")
        if len(text.lstrip("+-")) > 19 and text.lstrip("+-").isdigit():
            raise RejectedPayload("number out of range", f"{what} is a {len(text.lstrip('+-'))}-digit number")
        try:
            raw = int(text)
        except ValueError:
            try:
                raw = float(text)
            except ValueError:
                raise RejectedPayload("not a number", f"{what} is {excerpt(raw)}") from None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise RejectedPayload("not a number", f"{what} is {raw}")
        if not raw.is_integer():
            raise RejectedPayload("not a whole number", f"{what} is {raw}")
        raw = int(raw)
    if isinstance(raw, int):
        if not -INT_LIMIT <= raw < INT_LIMIT:
            raise RejectedPayload("number out of range", f"{what} is {excerpt(raw)}, beyond 64 bits")
        return raw
    raise RejectedPayload("not a number", f"{what} is {excerpt(raw)}")


def _event_time(raw: Any, field: str) -> float:
    """Return epoch seconds from epoch seconds or an ISO 8601 time with an offset."""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = float(raw)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        try:
            ts = float(raw)
        except OverflowError:
            ts = math.inf
        if not math.isfinite(ts):
            raise RejectedPayload("bad time", f"{field} is {excerpt(raw)}")
        return ts
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise RejectedPayload("bad time", f"{field} {excerpt(raw)} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise RejectedPayload("bad time", f"{field} {excerpt(raw)} has no UTC offset")
        try:
            return parsed.timestamp()
        except (OverflowError, ValueError, OSError):
            raise RejectedPayload("bad time", f"{field} {excerpt(raw)} is beyond the calendar") from None
    raise RejectedPayload("bad time", f"{field} is {excerpt(raw)}")


def _event_id(raw: Any, field: str) -> str | None:
    """Return the event id as text, or reject one that cannot be stored or compared."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    text = str(raw)
    problem = text_problem(text)
    if problem is None and len(text) > MAX_EVENT_ID:
        problem = f"is longer than {MAX_EVENT_ID} characters"
    if problem is None and any(ord(c) < 32 or ord(c) == 127 for c in text):
        problem = "holds a control character"
    if problem is not None:
        raise RejectedPayload("bad id", f"{field} {excerpt(text)} {problem}")
    return text


def _lookup(document: dict[str, Any], path: str) -> tuple[bool, Any]:
    """Follow a dotted path into a JSON object; return (found, value)."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def parse_payload(payload: bytes, config: MqttSourceConfig, received_at: float) -> MqttReading:
    """Read the count, time and id from one payload, or raise RejectedPayload saying why."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedPayload("not UTF-8", f"{len(payload)} bytes of binary") from None
    if config.field is None:
        return MqttReading(_whole_number(text, "payload"), received_at, None)
    try:
        document = load_json(text)
    except BadJson as exc:
        raise RejectedPayload(exc.reason, f"payload {excerpt(text, 40)}: {exc}") from None
    if not isinstance(document, dict):
        raise RejectedPayload("not a JSON object", f"payload {excerpt(text, 40)}")
    found, raw = _lookup(document, config.field)
    if not found:
        raise RejectedPayload("missing field", f"no {config.field!r} in {excerpt(text)}")
    value = _whole_number(raw, config.field)
    ts = received_at
    if config.time_field is not None:
        found, raw_time = _lookup(document, config.time_field)
        if found and raw_time is not None:
            ts = _event_time(raw_time, config.time_field)
    event_id = None
    if config.id_field is not None:
        found, raw_id = _lookup(document, config.id_field)
        if found:
            event_id = _event_id(raw_id, config.id_field)
    return MqttReading(value, ts, event_id)


def new_client(settings: MqttConfig, client_id: str, *, persistent: bool) -> paho.Client:
    """Make a paho client (callback API 2) with the broker's credentials, TLS and backoff set."""
    import paho.mqtt.client as paho

    client = paho.Client(
        callback_api_version=paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=paho.MQTTv311,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    # paho's default window of 20 unacknowledged QoS 1 messages queues a busy plant's state
    # updates behind broker round trips; the broker bounds its own side (max_inflight_messages).
    client.max_inflight_messages_set(1000)
    return client


def broker_settings(connections: Connections, host: str | None, port: int | None) -> MqttConfig:
    """Return the plant's broker settings (``connections.mqtt``) with a device's host/port overrides."""
    settings = connections.mqtt or MqttConfig.model_validate({})
    update = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return settings.model_copy(update=update) if update else settings


def refusal_is_final(reason_name: str) -> bool:
    """Say whether a refused connection will not cure itself (bad credentials, not authorised)."""
    return reason_name not in _TRANSIENT_REFUSALS


class _Delivery:
    """One QoS 1/2 message waiting for every source it matched to store it."""

    __slots__ = ("mid", "qos", "generation", "remaining")

    def __init__(self, mid: int, qos: int, generation: int, remaining: int) -> None:
        self.mid = mid
        self.qos = qos
        self.generation = generation
        self.remaining = remaining


class BrokerConnection:
    """One persistent-session client per broker, shared by every MQTT source that reads from it."""

    unmatched_grace_seconds = 60.0

    def __init__(self, settings: MqttConfig, connections: Connections) -> None:
        self.settings = settings
        self.connections = connections
        self.address = f"{settings.host}:{settings.port}"
        self.unmatched = 0
        self._lock = threading.Lock()
        self._sources: list[MqttSource] = []
        self._routes: dict[str, list[MqttSource]] = {}  # topic -> matching sources, reset on attach/detach
        self._held: list[tuple[Any, float, int]] = []
        self._warned_topics: set[str] = set()
        self._generation = 0
        self._connected = False
        self._fault: str | None = None
        self._closing = False
        self._client: paho.Client | None = None

    @classmethod
    def shared(cls, connections: Connections, settings: MqttConfig) -> BrokerConnection:
        """Return the connection to this broker in ``connections.brokers``, making it if needed (one user more)."""
        connection: BrokerConnection = connections.brokers.attach(
            (settings.host, settings.port), lambda: cls(settings, connections)
        )
        return connection

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self._connected

    def attach(self, source: MqttSource) -> None:
        """Start delivering a source's topic to it; connect on the first source."""
        with self._lock:
            self._sources.append(source)
            self._routes.clear()
            first = self._client is None and self._fault is None
            connected, fault = self._connected, self._fault
        if first:
            self._start()
        elif connected:
            source.sink.online()
            assert self._client is not None
            self._client.subscribe(source.config.topic, source.config.qos)
            self._redispatch_held()
        elif fault is not None:
            source.sink.offline(fault)

    def detach(self, source: MqttSource) -> None:
        """Stop delivering to a source; disconnect (keeping the session) after the last one."""
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)
                self._routes.clear()
            last = not self._sources
            client = self._client if last else None
            if last:
                self._closing = True
                self._client = None
                self._fault = None
        self.connections.brokers.detach((self.settings.host, self.settings.port))
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def sweep(self) -> None:
        """Acknowledge and drop messages no source has claimed within the grace period."""
        now = self.connections.clock.now()
        with self._lock:
            expired = [h for h in self._held if now - h[1] >= self.unmatched_grace_seconds]
            self._held = [h for h in self._held if now - h[1] < self.unmatched_grace_seconds]
            self.unmatched += len(expired)
        for message, _, generation in expired:
            topic = message.topic
            level = logging.DEBUG if topic in self._warned_topics else logging.WARNING
            self._warned_topics.add(topic)
            log.log(
                level,
                "MQTT %s: message on %s matches no configured source; dropped",
                self.address,
                topic,
            )
            self._ack(message.mid, message.qos, generation)

    def _start(self) -> None:
        try:
            client = new_client(self.settings, self.settings.client_id, persistent=True)
        except Exception as exc:  # a missing CA file or bad TLS setting must not kill the collector
            self._refused(f"MQTT broker {self.address}: {exc}")
            return
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        with self._lock:
            self._client = client
            self._closing = False
        client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive)
        client.loop_start()

    def _refused(self, reason: str) -> None:
        log.error("%s; not retrying until the configuration is fixed", reason)
        with self._lock:
            self._fault = reason
            sources = list(self._sources)
        for source in sources:
            source.sink.offline(reason)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            name = reason.getName()
            message = f"MQTT broker {self.address} refused the connection: {name}"
            if refusal_is_final(name):
                with self._lock:
                    self._closing = True  # the disconnect below is ours, not a drop
                client.disconnect()
                self._refused(message)
            else:
                self._went_offline(message)
            return
        with self._lock:
            self._generation += 1
            was_down = self._fault is not None
            self._connected = True
            self._fault = None
            sources = list(self._sources)
        if was_down:
            log.info("MQTT broker %s reachable again", self.address)
        topics = sorted({(s.config.topic, s.config.qos) for s in sources})
        if topics:
            client.subscribe(topics)
        for source in sources:
            source.sink.online()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._went_offline(f"MQTT broker {self.address} unreachable")

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            self._connected = False
            closing = self._closing
        if not closing:
            self._went_offline(f"MQTT broker {self.address} unreachable")

    def _went_offline(self, reason: str) -> None:
        with self._lock:
            self._connected = False
            repeat = self._fault is not None
            self._fault = reason
            sources = list(self._sources) if not repeat else []
        if repeat:
            log.debug("%s (still)", reason)
            return
        log.error("%s; reconnecting with backoff", reason)
        for source in sources:
            source.sink.offline(reason)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            generation = self._generation
        try:
            self._dispatch(message, generation)
        except Exception:  # an escaping exception would end paho's network thread
            # Only routing can fail here (each source's handling is guarded): end the message.
            log.exception("MQTT %s: failed to route a message; acknowledged and dropped", self.address)
            self._ack(message.mid, message.qos, generation)

    def _dispatch(self, message: Any, generation: int) -> None:
        from paho.mqtt.client import topic_matches_sub

        with self._lock:
            targets = self._routes.get(message.topic)
            if targets is None:
                targets = [s for s in self._sources if topic_matches_sub(s.config.topic, message.topic)]
                if len(self._routes) < 10_000:  # wildcard topics are bounded in a plant; guard anyway
                    self._routes[message.topic] = targets
            if not targets:
                self._held.append((message, self.connections.clock.now(), generation))
                return
        delivery = _Delivery(message.mid, message.qos, generation, len(targets))
        for source in targets:
            settle = self._settler(delivery)
            try:
                source.handle_message(message, settle)
            except Exception:  # never leave the message unacknowledged because one source broke
                log.exception("%s: failed on a message from %s", source.describe(), message.topic)
                source.rejected["unreadable"] += 1
                settle()

    def _settler(self, delivery: _Delivery) -> Callable[[], None]:
        done = threading.Event()

        def stored() -> None:
            if done.is_set():
                return
            done.set()
            with self._lock:
                delivery.remaining -= 1
                ready = delivery.remaining == 0
            if ready:
                self._ack(delivery.mid, delivery.qos, delivery.generation)

        return stored

    def _ack(self, mid: int, qos: int, generation: int) -> None:
        with self._lock:
            client = self._client
            # An ack for an older connection would hit whatever message now has that id;
            # the broker redelivers the old one instead.
            current = self._connected and generation == self._generation
        if client is not None and current and qos > 0:
            client.ack(mid, qos)

    def _redispatch_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            generation = self._generation
        for message, _, message_generation in held:
            if message_generation == generation:
                self._dispatch(message, generation)


class MqttSource(CountSource):
    """Subscribe to a topic and hand each count to the sink, acknowledging it once stored."""

    config: MqttSourceConfig

    def __init__(self, config: MqttSourceConfig, sink: ReadingSink, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.connection: BrokerConnection | None = None

    def broker_settings(self) -> MqttConfig:
        """Return the plant's broker settings with this source's host/port overrides applied."""
        return broker_settings(self.connections, self.config.host, self.config.port)

    async def run(self) -> None:
        """Read until cancelled; the shared connection reconnects by itself."""
        connection = BrokerConnection.shared(self.connections, self.broker_settings())
        self.connection = connection
        connection.attach(self)
        try:
            while True:
                await asyncio.sleep(1.0)
                connection.sweep()
        finally:
            await asyncio.to_thread(connection.detach, self)

    def handle_message(self, message: Any, stored: Callable[[], None]) -> None:
        """Parse one message and pass it on; ``stored`` acknowledges it to the broker.

        Total over any payload: a message is stored and then acknowledged, or rejected (reason,
        log, metric) and acknowledged. Only a storage fault leaves it unacknowledged, for the broker
        to deliver again after the next reconnect.
        """
        try:
            if message.retain and self.config.mode != "cumulative":
                # A retained message is an old value replayed on subscribe, not a new part.
                log.debug("%s: retained message on %s skipped", self.describe(), message.topic)
                stored()
                return
            reading = parse_payload(message.payload, self.config, self.connections.clock.now())
        except RejectedPayload as exc:
            self.reject(exc.reason, f"message on {message.topic}: {exc}")
            stored()  # acknowledged so the broker does not redeliver garbage forever
            return
        except Exception as exc:  # a payload no rule foresaw still ends: refused and acknowledged
            self.reject("unreadable", f"message on {message.topic}: {type(exc).__name__}")
            stored()
            return
        self.deliver(reading.value, ts=reading.ts, event_id=reading.event_id, on_stored=stored)

    def describe(self) -> str:
        """Say which broker and topic this source reads."""
        settings = self.broker_settings()
        host, port = settings.host, settings.port
        return f"MQTT {host}:{port} {self.config.topic}"


DRIVER = Driver("mqtt", MqttSourceConfig, MqttSource)
