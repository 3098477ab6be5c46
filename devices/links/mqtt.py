"""One MQTT connection (a paho client) and the rules every MQTT driver follows on it.

The link connects in the background and reconnects with backoff (1 s doubling to 30 s). A transient
refusal ("Server unavailable", "Server busy", "Connection rate exceeded") is retried; any other
(bad credentials, not authorised) stops the link with one ERROR line. Its users (count sources, andon
buttons, a stack light, the publisher) hear of each outage once (``link_down``) and of the recovery
once (``link_up``), however many reconnect attempts fail in between. Subscriptions are made again on
every connection, as filters of which no two can match one topic (``mqtt_filters.py``), so a broker that
sends one copy per matching subscription sends one; QoS 2 is asked as QoS 1 (below). A message goes to
every subscription whose filter matches and is acknowledged
(QoS 1/2, by hand) only when each of them has settled it, and never on a newer connection than the one
that brought it; one no subscription claims is held a grace period (its reader may be starting), then
acknowledged and dropped.

QoS 2 subscriptions are made at QoS 1 on the wire: a QoS 2 receiver commits to a message when it sends
PUBREC, before the message is stored, so a stop in between would lose it; at QoS 1 the broker delivers
it again until it is acknowledged after storage (a repeat is caught by its event id).

A link started on a running asyncio loop (everything in ``andon run``) is driven by that loop
(``mqtt_loop.py``): handlers run on it, and calls from other threads (the writer's acknowledgements)
are queued to it. A link started without one runs paho's network thread.

Persistent-session links (count sources, andon buttons, and in ``andon run`` the publisher, whose status is the
connection's last will) are shared through ``Connections.brokers``, one per broker and client id; a stack light's
link, with its own will, is its own. The states a count causes then go out on the connection that brought the
count, and carry its TCP acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import paho.mqtt.client as paho

from andon.clock import Clock, SystemClock
from andon.config.bases import MqttConfig, topic_filter
from devices.links.mqtt_client import Client, Will, new_client, raw_socket, refusal_is_final
from devices.links.mqtt_filters import wire_filter_of, wire_filters
from devices.links.mqtt_loop import LoopDriver
from devices.links.pool import LinkPool

log = logging.getLogger(__name__)

LinkState = Literal["up", "down", "final"]


class LinkUser(Protocol):
    """A driver on a link, told of every change of the link's state once."""

    def link_up(self) -> None:
        """The broker accepted the connection (the first time, or again after an outage)."""
        ...

    def link_down(self, reason: str, final: bool) -> None:
        """The broker is away (``final``: it refused us for good; the link does not retry)."""
        ...


Settle = Callable[[], None]
MessageHandler = Callable[[paho.MQTTMessage, Settle], None]


@dataclass(eq=False)
class Subscription:
    """A topic filter a user reads: its messages go to ``handler``, which settles each exactly once."""

    topic: str
    qos: int
    handler: MessageHandler
    on_subscribed: Callable[[], None] | None = None  # told when the broker confirms, on each connection


@dataclass(eq=False)
class _Delivery:
    """One incoming message waiting for every subscription it matched to settle it."""

    mid: int
    qos: int
    generation: int
    remaining: int


_QUEUED = paho.MQTTMessageInfo(0)  # what a lean publish answers: queued (rc 0); nothing waits on it
_QUEUED.rc = paho.MQTT_ERR_SUCCESS


def _valid_filter(topic: str) -> bool:
    try:
        topic_filter(topic)
    except ValueError:
        return False
    return True


def _no_delay(client: paho.Client) -> None:
    """Send small packets at once (TCP_NODELAY): a state or an andon event must not wait for the last one's ACK."""
    sock = raw_socket(client)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttLink:
    """One paho client to one broker: connection, refusals, outages, subscriptions, acks and publishing."""

    unmatched_grace_seconds = 60.0

    def __init__(
        self, settings: MqttConfig, client_id: str, *, persistent: bool, will: Will | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.persistent = persistent
        self.will = will
        self.clock = clock or SystemClock()
        self.address = f"{settings.host}:{settings.port}"
        self.unmatched = 0  # messages no subscription claimed in time, acknowledged and dropped
        self._lock = threading.Lock()  # state, subscriptions and held messages; never held while calling out
        self._reporting = threading.RLock()  # one report at a time, so each user hears each change once
        self._told: dict[LinkUser, LinkState | None] = {}  # each user and what it last heard
        self._subscriptions: list[Subscription] = []
        self._routes: dict[str, list[Subscription]] = {}  # topic -> matching subscriptions, reset on change
        self._confirming: dict[int, list[tuple[str, int]]] = {}  # SUBSCRIBE mid -> wire filters
        self._wire: dict[str, int] = {}  # filters subscribed on this connection, with their QoS
        self._held: list[tuple[paho.MQTTMessage, float, int]] = []
        self._warned_topics: set[str] = set()
        self._client: paho.Client | None = None
        self._driver: LoopDriver | None = None  # set when an event loop drives the client
        self._started = False
        self._closing = False
        self._connected = False
        self._fault: str | None = None
        self._final = False
        self._generation = 0  # one more on every accepted connection
        self._pool: LinkPool[tuple[str, int, str], MqttLink] | None = None  # set when shared

    @classmethod
    def shared(
        cls, pool: LinkPool[tuple[str, int, str], MqttLink], clock: Clock, settings: MqttConfig, client_id: str,
        will: Will | None = None,
    ) -> MqttLink:
        """Return the persistent-session link to this broker under this client id from ``pool`` (one user more).

        ``will``: the connection's last will (the publisher's status). It is set when the link has not connected
        yet; a link already connecting without it keeps going without one, said once at WARNING.
        """
        link = pool.attach(
            (settings.host, settings.port, client_id),
            lambda: cls(settings, client_id, persistent=True, clock=clock, will=will),
        )
        link._pool = pool
        if will is not None and link.will != will:
            with link._lock:
                started = link._started
                if not started:
                    link.will = will
            if started:
                log.warning("MQTT %s: client %s was connected before its last will (%s) was known; it has none "
                            "until it reconnects", link.address, client_id, will.topic)
        return link

    def release(self) -> None:
        """Count one user of a shared link less; close it after the last (waits for its network thread)."""
        if self._pool is None or self._pool.detach((self.settings.host, self.settings.port, self.client_id)) is self:
            self.close()

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection and it is up."""
        return self._connected

    @property
    def fault(self) -> str | None:
        """Why the broker is not reachable (or refused us), or None while it is."""
        return self._fault

    @property
    def client(self) -> paho.Client | None:
        """The paho client, while the link is open."""
        return self._client

    def _drive(self) -> LoopDriver | None:
        """Return the loop driving the client, or None under paho's thread; a closed loop hands over to it."""
        driver = self._driver
        if driver is None or driver.alive():
            return driver
        self._orphaned(driver)
        return self._driver

    def _orphaned(self, driver: LoopDriver) -> None:
        """The loop that drove the client ended with the link open: paho's own thread takes over."""
        with self._lock:
            if self._driver is not driver:
                return
            self._driver = None
        log.debug("MQTT %s: the event loop of client %s ended; paho's thread drives it", self.address, self.client_id)
        driver.hand_over()

    def attach(self, user: LinkUser) -> None:
        """Add a user and tell it the state the link is in; the first user starts the connection."""
        with self._reporting:
            self._told[user] = None
            with self._lock:
                start, self._started = not self._started, True
                state = self._state()
            if state is not None:
                self._tell(user, *state)
        if start:
            self._start()

    def detach(self, user: LinkUser) -> None:
        """Stop telling a user about the link."""
        with self._reporting:
            self._told.pop(user, None)

    def subscribe(self, subscription: Subscription) -> None:
        """Read a topic filter: subscribed now when connected, and again on every connection."""
        driver = self._drive()
        if driver is not None and not driver.on_loop():
            driver.call_and_wait(lambda: self.subscribe(subscription))
            return
        with self._lock:
            self._subscriptions.append(subscription)
            self._routes.clear()
            client = self._client if self._connected else None
            covered = client is not None and subscription in self._sync_wire(client)
        if covered and subscription.on_subscribed is not None:
            subscription.on_subscribed()  # its filter was on the wire already: no SUBACK will come
        if client is not None:
            self._redispatch_held()

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop handing a filter's messages to its handler (the broker's session keeps the subscription)."""
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
                self._routes.clear()

    def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo | None:
        """Publish (paho queues QoS 1/2 while the broker is away and sends on reconnect); None once closed."""
        client, driver = self._client, self._drive()
        if client is None:
            return None
        if driver is None or driver.on_loop():
            return client.publish(topic, payload, qos=qos, retain=retain)
        return driver.call_and_wait(lambda: client.publish(topic, payload, qos=qos, retain=retain))

    def publish_lean(self, topic: str, payload: bytes, *, retain: bool) -> paho.MQTTMessageInfo | None:
        """Publish at QoS 1 what the caller republishes itself after a reconnect (a retained state): on the loop
        that drives the client, built without paho's message objects (``Client.publish_lean``); else, or when the
        connection is not up, as ``publish``."""
        client, driver = self._client, self._drive()
        if driver is not None and driver.on_loop() and isinstance(client, Client) \
                and client.publish_lean(topic, payload, retain):
            return _QUEUED
        return self.publish(topic, payload, qos=1, retain=retain)

    async def serve(
        self, user: LinkUser, subscription: Subscription, until: asyncio.Future[Any] | None = None,
    ) -> None:
        """Read ``subscription`` for ``user`` until cancelled (or ``until`` is done), sweeping unclaimed held
        messages each second; then unsubscribe, detach and release (in a thread: the last release waits for
        paho's network thread)."""
        self.subscribe(subscription)
        self.attach(user)
        try:
            while until is None or not until.done():
                if until is None:
                    await asyncio.sleep(1.0)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(until), timeout=1.0)
                self.sweep()
        finally:
            if self._drive() is not None:
                self._leave(user, subscription)  # nothing waits for a thread: the loop drives the client
            else:
                await asyncio.to_thread(self._leave, user, subscription)

    def _leave(self, user: LinkUser, subscription: Subscription) -> None:
        self.unsubscribe(subscription)
        self.detach(user)
        self.release()

    def sweep(self) -> None:
        """Acknowledge and drop held messages no subscription has claimed within the grace period."""
        now = self.clock.now()
        with self._lock:
            expired = [h for h in self._held if now - h[1] >= self.unmatched_grace_seconds]
            self._held = [h for h in self._held if now - h[1] < self.unmatched_grace_seconds]
            self.unmatched += len(expired)
        for message, _, generation in expired:
            topic = message.topic
            level = logging.DEBUG if topic in self._warned_topics else logging.WARNING
            self._warned_topics.add(topic)
            log.log(level, "MQTT %s: message on %s matches no configured reader; dropped", self.address, topic)
            self._ack(message.mid, message.qos, generation)

    def goodbye(self, user: LinkUser, message: Will | None = None, timeout: float = 2.0) -> None:
        """Publish ``message`` (default: this link's last will) while connected, since a clean disconnect sends
        no will; wait up to ``timeout`` for it to go out, then stop telling ``user`` and close (a shared link:
        release it, closed after its last user)."""
        message = message or self.will
        if self.connected and message is not None:
            info = self.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            driver = self._drive()
            try:
                # On the loop that drives the client nothing can be waited for; closing writes the message
                # before the goodbye, and the broker takes them in that order.
                if info is not None and (driver is None or not driver.on_loop()):
                    info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("MQTT broker %s: could not publish %s before closing: %s", self.address, message.topic, exc)
        self.detach(user)
        if self._pool is not None:
            self.release()
        else:
            self.close()

    def close(self) -> None:
        """Disconnect with a goodbye (no last will) and stop the network thread or the loop's driving;
        users are not told."""
        self._drive()
        with self._lock:
            client, self._client = self._client, None
            driver, self._driver = self._driver, None
            self._closing = True
            self._started = True
            self._connected = False
        if driver is not None:
            driver.call_and_wait(driver.close)
        elif client is not None:
            client.disconnect()
            client.loop_stop()

    # --- connection ------------------------------------------------------------------------

    def _start(self) -> None:
        try:
            client = self._new_client()
        except Exception as exc:  # a missing CA file or bad TLS setting must not stop the process
            self._stop_for_good(f"MQTT broker {self.address}: {exc}")
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            if self._closing:
                return
            self._client = client
            if loop is not None and isinstance(client, Client):
                self._driver = LoopDriver(client, loop, on_connect_failed=lambda: self._on_connect_fail(client, None),
                                          closing=lambda: self._closing, orphaned=self._orphaned)
        client.connect_async(self.settings.host, self.settings.port, keepalive=self.settings.keepalive)
        if self._driver is not None:
            self._driver.start()
        else:
            client.loop_start()

    def _new_client(self) -> paho.Client:
        client = new_client(self.settings, self.client_id, persistent=self.persistent, will=self.will)
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if isinstance(client, Client):
            client.on_messages = self._on_messages  # the PUBLISH packets of one read, in one call
        return client

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            name = reason.getName()
            message = f"MQTT broker {self.address} refused the connection: {name}"
            if refusal_is_final(name):
                with self._lock:
                    self._closing = True  # the disconnect below is ours, not a drop
                client.disconnect()
                self._stop_for_good(message)
            else:
                self._went_down(message)
            return
        _no_delay(client)
        if self._driver is not None:
            self._driver.accepted()
        with self._lock:
            self._generation += 1
            was_down = self._fault is not None
            self._connected = True
            self._fault = None
            self._held = []  # the broker delivers what an earlier connection left unacknowledged again
            self._wire = {}
            if self._subscriptions:
                self._sync_wire(client)
        if was_down:
            log.info("MQTT broker %s reachable again (client %s)", self.address, self.client_id)
        self._report()

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._went_down(f"MQTT broker {self.address} unreachable")

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._went_down(f"MQTT broker {self.address} unreachable")

    def _went_down(self, reason: str) -> None:
        with self._lock:
            self._connected = False
            if self._closing:
                return
            repeat = self._fault is not None
            self._fault = reason
        if repeat:
            log.debug("%s (still; client %s)", reason, self.client_id)
            return
        log.error("%s; reconnecting with backoff (client %s)", reason, self.client_id)
        self._report()

    def _stop_for_good(self, reason: str) -> None:
        with self._lock:
            self._connected = False
            self._closing = True
            self._fault = reason
            self._final = True
        log.error("%s; not retrying until the configuration is fixed (client %s)", reason, self.client_id)
        self._report()

    # --- telling users -----------------------------------------------------------------------

    def _state(self) -> tuple[LinkState, str] | None:
        if self._final:
            return "final", self._fault or ""
        if self._connected:
            return "up", ""
        if self._fault is not None:
            return "down", self._fault
        return None  # connecting for the first time, or closed

    def _report(self) -> None:
        with self._reporting:
            with self._lock:
                state = self._state()
            if state is not None:
                for user in list(self._told):
                    self._tell(user, *state)

    def _tell(self, user: LinkUser, state: LinkState, reason: str) -> None:
        """Tell one user a state it has not heard yet (holding the reporting lock)."""
        if user not in self._told or self._told[user] == state:
            return
        self._told[user] = state
        try:
            if state == "up":
                user.link_up()
            else:
                user.link_down(reason, state == "final")
        except Exception:  # one user's fault must not keep the news from the others
            log.exception("MQTT %s: a driver failed on news of its connection", self.address)

    # --- subscriptions and messages ------------------------------------------------------------

    def _sync_wire(self, client: paho.Client) -> list[Subscription]:
        """Subscribe the wire filters the subscriptions need, then drop those no longer needed (holding the lock).

        Return the subscriptions whose wire filter the broker had already confirmed (nothing to wait for).
        """
        wanted: dict[str, int] = {}
        for s in self._subscriptions:
            wanted[s.topic] = max(wanted.get(s.topic, 0), min(s.qos, 1))
        wire = wire_filters(wanted)
        new = sorted((f, q) for f, q in wire.items() if self._wire.get(f) != q)
        stale = sorted((set(self._wire) | set(wanted)) - set(wire))
        before = dict(self._wire)
        self._wire = wire
        if new:
            refused = [f for f, _ in new if not _valid_filter(f)]
            for f in refused:  # one bad filter must not keep the others off the wire (paho refuses the batch)
                log.error("MQTT %s: %r is not a topic filter the standard allows; not subscribed", self.address, f)
                self._wire.pop(f, None)
            new = [(f, q) for f, q in new if f not in refused]
        if new:
            result, mid = client.subscribe(new)
            if result == paho.MQTT_ERR_SUCCESS and mid is not None:
                self._confirming[mid] = new
        if stale:  # after the wider filter is in place, so nothing falls between the two
            client.unsubscribe(stale)
        fresh = {f for f, _ in new}
        return [s for s in self._subscriptions if wire_filter_of(s.topic, before) is not None
                and wire_filter_of(s.topic, wire) not in fresh]

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, codes: Any, properties: Any) -> None:
        with self._lock:
            topics = self._confirming.pop(mid, [])
            wire = dict(self._wire)
            subscriptions = list(self._subscriptions)
        refused = {topic for (topic, _), code in zip(topics, codes, strict=False) if code.is_failure}
        accepted = {topic for topic, _ in topics} - refused
        for topic in sorted(refused):
            readers = sorted({s.topic for s in subscriptions if wire_filter_of(s.topic, wire) == topic})
            log.error("MQTT broker %s refused the subscription to %s (for %s; client %s)", self.address, topic,
                      ", ".join(readers), self.client_id)
        for subscription in subscriptions:
            if wire_filter_of(subscription.topic, wire) in accepted and subscription.on_subscribed is not None:
                subscription.on_subscribed()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._on_messages(client, [message])

    def _on_messages(self, client: paho.Client, messages: list[paho.MQTTMessage]) -> None:
        with self._lock:
            generation = self._generation
        for message in messages:
            try:
                self._dispatch(message, generation)
            except Exception:  # an escaping exception would end paho's network thread
                log.exception("MQTT %s: failed to route a message; acknowledged and dropped", self.address)
                self._ack(message.mid, message.qos, generation)

    def _dispatch(self, message: paho.MQTTMessage, generation: int) -> None:
        with self._lock:
            targets = self._routes.get(message.topic)
            if targets is None:
                targets = [s for s in self._subscriptions if paho.topic_matches_sub(s.topic, message.topic)]
                if len(self._routes) < 10_000:  # wildcard topics are bounded in a plant; guard anyway
                    self._routes[message.topic] = targets
            if not targets:
                self._held.append((message, self.clock.now(), generation))
                return
        delivery = _Delivery(message.mid, message.qos, generation, len(targets))
        for subscription in targets:
            settle = self._settler(delivery)
            try:
                subscription.handler(message, settle)
            except Exception:  # never leave the message unacknowledged because one reader broke
                log.exception("MQTT %s: a reader failed on a message from %s", self.address, message.topic)
                settle()

    def _settler(self, delivery: _Delivery) -> Settle:
        done = False  # each reader settles once; a second call (from another thread, say) does nothing

        def settle() -> None:
            nonlocal done
            with self._lock:
                if done:
                    return
                done = True
                delivery.remaining -= 1
                ready = delivery.remaining == 0
            if ready:
                self._ack(delivery.mid, delivery.qos, delivery.generation)

        return settle

    def _ack(self, mid: int, qos: int, generation: int) -> None:
        if qos == 0:
            return
        driver = self._drive()
        if driver is not None and not driver.on_loop():
            driver.call(lambda: self._ack(mid, qos, generation))  # the writer's acks of a batch: one wake-up
            return
        with self._lock:
            client = self._client
            # An ack for an older connection would hit whatever message now has that id;
            # the broker delivers the old one again instead.
            current = self._connected and generation == self._generation
        if client is not None and current:
            client.ack(mid, qos)

    def _redispatch_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            generation = self._generation
        for message, _, message_generation in held:
            if message_generation == generation:
                self._dispatch(message, generation)
