"""The paho client an MQTT link drives: broker settings with a device's overrides, credentials, TLS, last will,
backoff, and which refusals are worth retrying.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from andon.config.bases import MqttConfig

# Connection refusals worth retrying: the broker is there but cannot take us right now.
TRANSIENT_REFUSALS = frozenset({"Server unavailable", "Server busy", "Connection rate exceeded"})


def refusal_is_final(reason_name: str) -> bool:
    """Say whether a refused connection will not cure itself (bad credentials, not authorised)."""
    return reason_name not in TRANSIENT_REFUSALS


def broker_settings(plant: MqttConfig | None, host: str | None, port: int | None) -> MqttConfig:
    """Return the plant's broker settings (``connections.mqtt``) with a device's host/port overrides."""
    settings = plant or MqttConfig.model_validate({})
    update = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return settings.model_copy(update=update) if update else settings


def device_client_id(settings: MqttConfig, kind: str, topic: str) -> str:
    """Return the default client id of a device's own connection: the plant's id, its kind and its topic."""
    safe_topic = re.sub(r"[^A-Za-z0-9_-]+", "-", topic).strip("-")
    return f"{settings.client_id}-{kind}-{safe_topic}"


@dataclass(frozen=True)
class Will:
    """What the broker publishes for this client when its connection dies without a goodbye."""

    topic: str
    payload: str | bytes
    qos: int = 1
    retain: bool = True


class BufferedSocket:
    """A client socket that reads up to 64 KiB per system call and serves paho's small reads from memory.

    paho reads a packet as one byte of type, one byte at a time of length, then the rest: three or
    more ``recv`` calls per message, and one ``select`` per packet. Here one ``recv`` brings every
    packet the kernel holds; ``pending`` (the hook paho has for TLS's own buffer) tells paho's loop
    that more is there without waiting on the socket. Everything else goes to the real socket.
    """

    chunk = 65536

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._data = b""
        self._at = 0

    def recv(self, size: int) -> bytes:
        """Return up to ``size`` bytes, from memory first (raise BlockingIOError when none are there)."""
        if self._at >= len(self._data):
            data = self.sock.recv(self.chunk)
            if len(data) <= size:
                return data
            self._data, self._at = data, 0
        out = self._data[self._at:self._at + size]
        self._at += len(out)
        return out

    def buffered(self) -> int:
        """Return how many bytes were read from the socket and not yet taken."""
        return len(self._data) - self._at

    def pending(self) -> int:
        """Return how many bytes can be read without waiting (paho skips its select while any are)."""
        inner = getattr(self.sock, "pending", None)
        return self.buffered() + (inner() if inner is not None else 0)

    def fill(self) -> int:
        """Read what the kernel holds into memory (the buffer must be empty); return how many bytes came, 0 at the
        end of the stream (raise BlockingIOError when none are there)."""
        self._data, self._at = self.sock.recv(self.chunk), 0
        return len(self._data)

    def take_packets(self) -> list[tuple[int, bytes]]:
        """Take every whole PUBLISH packet of QoS 0 or 1 and every PUBACK at the head of the buffer: (first byte,
        rest) each.

        Stops at the first packet that is another kind, QoS 2, not all here yet, or malformed: paho reads that
        one (and reports what is wrong with it), so the stream is never misread.
        """
        data, at, end = self._data, self._at, len(self._data)
        taken: list[tuple[int, bytes]] = []
        while at < end:
            first = data[at]
            if first == _PUBACK:
                if at + 4 > end or data[at + 1] != 2:
                    break
                taken.append((first, data[at + 2:at + 4]))
                at += 4
                continue
            if first & 0xF0 != _PUBLISH or first & 0x06 > 0x02:
                break
            length, multiplier, i = 0, 1, at + 1
            while i < end and i - at <= 4:
                byte = data[i]
                length += (byte & 0x7F) * multiplier
                multiplier <<= 7
                i += 1
                if not byte & 0x80:
                    break
            else:
                break  # the length is not all here, or longer than four bytes (paho refuses it)
            if i + length > end:
                break
            if length < 2 or 2 + ((data[i] << 8) | data[i + 1]) + (2 if first & 0x06 else 0) > length:
                break  # no room for the topic (and message id): paho's reader calls it malformed
            body = data[i:i + length]
            taken.append((first, body))
            at = i + length
        self._at = at
        return taken

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


_PUBLISH, _PUBACK, _DISCONNECT = paho.PUBLISH, paho.PUBACK, paho.DISCONNECT  # the packet types' first bytes
_ACCEPTED = ReasonCode(PacketTypes.PUBACK)  # what paho reports for an MQTT 3.1.1 PUBACK
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)


class Received(paho.MQTTMessage):
    """A message read whole from the buffer: paho's message without the sending side's bookkeeping.

    (paho gives each message it reads an ``info`` with a lock of its own, which only a sender uses.)
    """

    info = paho.MQTTMessageInfo(0)

    def __init__(self, first: int, body: bytes, timestamp: float) -> None:  # noqa: D107 - the packet, as read
        topic_end = 2 + ((body[0] << 8) | body[1])
        self.timestamp = timestamp
        self.state = paho.mqtt_ms_invalid
        self.dup = bool(first & 0x08)
        self.qos = (first >> 1) & 0x03
        self.retain = bool(first & 0x01)
        self._topic = body[2:topic_end]
        self.properties = None
        if self.qos:
            self.mid = (body[topic_end] << 8) | body[topic_end + 1]
            self.payload = body[topic_end + 2:]
        else:
            self.mid = 0
            self.payload = body[topic_end:]


class Client(paho.Client):
    """paho's client reading through a BufferedSocket: each packet costs no system call of its own.

    With ``on_messages`` set, the PUBLISH packets (QoS 0 and 1) that one read brings are parsed here, whole,
    and handed over in one call, in the order they came, and the broker's PUBACKs are taken here too; every
    other packet (connection, subscriptions, pings, QoS 2, a packet split across reads) goes through paho's
    own reader. (paho's reader, a call per byte of a packet's head and a message object with a lock of its
    own, cost more than the rest of a count's way to the database.) What paho queued to send goes out in one
    write (``_packet_write``) instead of a system call per packet.

    For an event loop that must not block, the connection can be opened beforehand in another thread
    (``build_socket``, then ``prepare_socket``): ``reconnect`` then takes it instead of connecting.
    """

    _prepared: Any = None
    on_messages: Callable[[Client, list[paho.MQTTMessage]], None] | None = None
    quick_ack_per_read = True  # an event loop that knows when nothing answers a read asks for it itself
    lean_limit = 1000  # lean publishes awaiting their PUBACK at most; past it, publishes go paho's way
    _lean: set[int] | None = None  # the message ids of lean publishes awaiting their PUBACK

    def publish_lean(self, topic: str, payload: bytes, retain: bool) -> bool:
        """Queue a QoS 1 PUBLISH built here, for a sender that republishes after a reconnect what it still
        needs (a retained state): no message object with a lock of its own, no copy kept for the next connection.

        Return False, queuing nothing, when the connection is not up, not MQTT 3.1.1, or too many wait for their
        PUBACK: the caller publishes through paho then.
        """
        lean = self._lean
        if lean is None:
            lean = self._lean = set()
        if self._sock is None or self._state != paho._ConnectionState.MQTT_CS_CONNECTED \
                or self._protocol == paho.MQTTv5 or len(lean) >= self.lean_limit:
            return False
        encoded = topic.encode()
        mid = self._mid_generate()
        length = 4 + len(encoded) + len(payload)
        head = bytearray((_PUBLISH | 0x02 | (1 if retain else 0),))
        while True:
            byte, length = length & 0x7F, length >> 7
            head.append(byte | 0x80 if length else byte)
            if not length:
                break
        packet = b"".join((head, len(encoded).to_bytes(2, "big"), encoded, mid.to_bytes(2, "big"), payload))
        lean.add(mid)
        self._out_packet.append({"command": _PUBLISH | 0x02, "mid": mid, "qos": 1, "pos": 0,
                                 "to_process": len(packet), "packet": packet, "info": None})
        self._call_socket_register_write()
        return True

    def reconnect(self) -> paho.MQTTErrorCode:
        """Connect again; lean publishes of the last connection are forgotten (their senders republish)."""
        self._lean = None
        return super().reconnect()

    def build_socket(self) -> Any:
        """Connect to the broker (blocking: name lookup, TCP, TLS handshake) and return the socket."""
        sock = super()._create_socket()
        return BufferedSocket(sock) if self._transport == "tcp" else sock

    def prepare_socket(self, sock: Any) -> None:
        """Have the next ``reconnect`` use ``sock`` (None: forget, and close, the one prepared)."""
        old, self._prepared = self._prepared, sock
        if old is not None and old is not sock:
            with contextlib.suppress(OSError):
                old.close()

    def drop_socket(self) -> None:
        """Close the connection's socket without a goodbye (paho's socket callbacks are told)."""
        self._sock_close()

    def _create_socket(self) -> Any:
        sock, self._prepared = self._prepared, None
        return sock if sock is not None else self.build_socket()

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        """Read every whole packet already in memory, not one per pass of paho's loop."""
        if self.quick_ack_per_read:
            self.quick_ack()
        while True:
            sock = self._sock
            if self.on_messages is not None and isinstance(sock, BufferedSocket) and self._in_packet["command"] == 0 \
                    and self._protocol != paho.MQTTv5:  # (an MQTT 5 packet carries properties this reader skips)
                # At a packet boundary: take the whole PUBLISH packets here; paho reads the one after them, if any.
                if not sock.buffered():
                    try:
                        if not sock.fill():
                            return super().loop_read(max_packets)  # the end of the stream: paho's to handle
                    except BlockingIOError:
                        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS
                    except OSError:
                        return super().loop_read(max_packets)  # paho reads the error again and ends the connection
                self._deliver(sock.take_packets())
                if not sock.buffered() or self._sock is not sock:
                    return paho.MQTTErrorCode.MQTT_ERR_SUCCESS
            rc = super().loop_read(max_packets)
            if rc != paho.MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(self._sock, BufferedSocket) \
                    or not self._sock.buffered():
                return rc

    def _deliver(self, packets: list[tuple[int, bytes]]) -> None:
        if not packets:
            return
        now = paho.time_func()
        with self._msgtime_mutex:
            self._last_bytes_received = now  # what paho's keepalive watches
        messages: list[paho.MQTTMessage] = []
        for first, body in packets:
            if first == _PUBACK:
                self._published((body[0] << 8) | body[1])
            else:
                messages.append(Received(first, body, now))
        on_messages = self.on_messages
        if messages and on_messages is not None:
            with self._in_callback_mutex:
                on_messages(self, messages)
            if not self._manual_ack:  # as paho's reader: QoS 1 acknowledged once handed over, unless the user acks
                for message in messages:
                    if message.qos == 1:
                        self._send_puback(message.mid)

    def _published(self, mid: int) -> None:
        """Do what paho does with a PUBACK: the message is published (told once), a place in flight is free."""
        lean = self._lean
        if lean is not None and mid in lean:
            lean.discard(mid)
            return
        with self._out_message_mutex:
            if mid in self._out_messages:
                self._do_on_publish(mid, _ACCEPTED, _NO_PROPERTIES)

    def _handle_pubackcomp(self, cmd: Any) -> paho.MQTTErrorCode:
        """paho's reader had a PUBACK (one cut by a read): a lean publish's is taken here."""
        packet, lean = self._in_packet["packet"], self._lean
        if cmd == "PUBACK" and lean is not None and len(packet) >= 2:
            mid = (packet[0] << 8) | packet[1]
            if mid in lean:
                lean.discard(mid)
                return paho.MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._handle_pubackcomp(cmd)

    def _packet_write(self) -> paho.MQTTErrorCode:
        """Write what is queued in one system call: the packets at the head that need nothing done once sent
        (acknowledgements, QoS 1 publishes, pings) are joined into one before paho writes."""
        queue = self._out_packet
        if len(queue) > 1:
            plain = []
            while queue and _plain(queue[0]):
                plain.append(queue.popleft())
            if len(plain) > 1:
                joined = b"".join(p["packet"][p["pos"]:] for p in plain)
                # Marked as an acknowledgement: a kind paho does nothing for once it is written, like its parts.
                queue.appendleft({"command": _PUBACK, "mid": 0, "qos": 0, "pos": 0, "to_process": len(joined),
                                  "packet": joined, "info": None})
            elif plain:
                queue.appendleft(plain[0])
        return super()._packet_write()

    def quick_ack(self) -> None:
        """Have the kernel acknowledge received data at once (TCP_QUICKACK, Linux), once per read.

        QoS 1 acknowledgements wait for the commit, so nothing goes back to the broker for a while; the
        delayed TCP acknowledgement then holds the broker's next small packet back (Nagle), and a count
        took ~4 ms to arrive instead of ~0.2 ms. Linux drops quick-ack mode by itself, so it is set per read
        (or, under an event loop, per read that nothing answers at once: ``quick_ack_per_read``).
        """
        sock = raw_socket(self)
        if _TCP_QUICKACK is not None and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _plain(packet: Any) -> bool:
    """Say whether paho does nothing once ``packet`` is written (not a QoS 0 publish, not the goodbye)."""
    command = packet["command"] & 0xF0
    return command != _DISCONNECT and not (command == _PUBLISH and packet["qos"] == 0)


def raw_socket(client: paho.Client) -> Any:
    """Return the operating system socket of a client (under its BufferedSocket, if any), or None."""
    sock = client.socket()
    return sock.sock if isinstance(sock, BufferedSocket) else sock


def new_client(settings: MqttConfig, client_id: str, *, persistent: bool, will: Will | None = None) -> paho.Client:
    """Make a paho client (callback API 2, MQTT 3.1.1) with the broker's credentials, TLS, will and backoff set."""
    client = Client(
        callback_api_version=paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=paho.MQTTv311,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    # paho's default window of 20 unacknowledged QoS 1 messages queues a busy plant's state
    # updates behind broker round trips; the broker bounds its own side (max_inflight_messages).
    client.max_inflight_messages_set(1000)
    return client
