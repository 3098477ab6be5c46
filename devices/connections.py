"""What drivers share, handed to every source, light and button: the clock, the plant's broker settings,
the GPIO pin factory, and one link per physical connection (a broker, a PLC), shared by every driver on it.

Built once by the composition root (one per process, or per edge) and passed in; nothing is kept in
module globals, and nothing is looked up by string keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from andon.clock import Clock
from andon.config.bases import MqttConfig
from devices.links.ethernetip import LogixKey, LogixLink
from devices.links.modbus import ModbusHub
from devices.links.s7 import S7Hub

if TYPE_CHECKING:  # the link module imports this one; the pool only names the type
    from devices.links.mqtt import MqttLink

K = TypeVar("K")
L = TypeVar("L")


class LinkPool(Generic[K, L]):
    """Links to physical connections, one per key, each shared by every driver that uses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: dict[K, L] = {}
        self._users: dict[K, int] = {}

    def attach(self, key: K, make: Callable[[], L]) -> L:
        """Return the link for ``key`` (made on first use) and count one more user of it."""
        with self._lock:
            link = self._links.get(key)
            if link is None:
                link = make()
                self._links[key] = link
            self._users[key] = self._users.get(key, 0) + 1
            return link

    def detach(self, key: K) -> L | None:
        """Count one user less; return the link when that was its last user (the caller closes it)."""
        with self._lock:
            users = self._users.get(key, 0) - 1
            if users > 0:
                self._users[key] = users
                return None
            self._users.pop(key, None)
            return self._links.pop(key, None)

    def get(self, key: K) -> L | None:
        """Return the link for ``key`` if one is open."""
        with self._lock:
            return self._links.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._links)


@dataclass(eq=False)
class Connections:
    """The collaborators every driver gets: clock, broker settings, pin factory and shared links."""

    clock: Clock
    mqtt: MqttConfig | None = None
    pin_factory: Any | None = None  # a gpiozero pin factory; None: gpiozero's default
    brokers: LinkPool[tuple[str, int, str], MqttLink] = field(default_factory=LinkPool)  # host, port, client id
    modbus: LinkPool[tuple[str, int], ModbusHub] = field(default_factory=LinkPool)
    s7: LinkPool[tuple[str, int, int, int], S7Hub] = field(default_factory=LinkPool)
    ethernetip: LinkPool[LogixKey, LogixLink] = field(default_factory=LinkPool)


def edge_broker(mqtt: MqttConfig | None, name: str) -> MqttConfig | None:
    """Return the plant's broker settings with an edge's own client id (None without a broker).

    An edge must not take over the server's (or another edge's) MQTT sessions.
    """
    if mqtt is None:
        return None
    return mqtt.model_copy(update={"client_id": f"{mqtt.client_id}-edge-{name}"})
