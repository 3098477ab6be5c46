"""What drivers share, handed to every source, light and button: the clock, the plant's broker settings,
the GPIO pin factory, and one link per physical connection (a broker, a PLC), shared by every driver on it.

Built once by the composition root (one per process, or per edge) and passed in; nothing is kept in
module globals, and nothing is looked up by string keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from andon.clock import Clock
from andon.config.bases import MqttConfig
from devices.links.ethernetip import LogixKey, LogixLink
from devices.links.modbus import ModbusHub
from devices.links.mqtt import MqttLink
from devices.links.opcua import OpcuaEndpoint, OpcuaLink
from devices.links.pool import LinkPool
from devices.links.s7 import S7Hub


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
    opcua: LinkPool[OpcuaEndpoint, OpcuaLink] = field(default_factory=LinkPool)  # one session per endpoint


def edge_broker(mqtt: MqttConfig | None, name: str) -> MqttConfig | None:
    """Return the plant's broker settings with an edge's own client id (None without a broker).

    An edge must not take over the server's (or another edge's) MQTT sessions.
    """
    if mqtt is None:
        return None
    return mqtt.model_copy(update={"client_id": f"{mqtt.client_id}-edge-{name}"})
