"""The paho client an MQTT link drives: broker settings with a device's overrides, credentials, TLS, last will,
backoff, and which refusals are worth retrying.
"""

from __future__ import annotations

import contextlib
import re
import socket
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

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

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Client(paho.Client):
    """paho's client reading through a BufferedSocket: each packet costs no system call of its own.

    For an event loop that must not block, the connection can be opened beforehand in another thread
    (``build_socket``, then ``prepare_socket``): ``reconnect`` then takes it instead of connecting.
    """

    _prepared: Any = None

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
        self._quick_ack()
        rc = super().loop_read(max_packets)
        while rc == paho.MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(self._sock, BufferedSocket) \
                and self._sock.buffered():
            rc = super().loop_read(max_packets)
        return rc

    def _quick_ack(self) -> None:
        """Have the kernel acknowledge received data at once (TCP_QUICKACK, Linux), once per read.

        QoS 1 acknowledgements wait for the commit, so nothing goes back to the broker for a while; the
        delayed TCP acknowledgement then holds the broker's next small packet back (Nagle), and a count
        took ~4 ms to arrive instead of ~0.2 ms. Linux drops quick-ack mode by itself, so it is set per read.
        """
        sock = raw_socket(self)
        if _TCP_QUICKACK is not None and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


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
