"""Stack lights and andon buttons at the line, in ``andon run`` or on an edge Pi (``andon edge``).

In ``andon run`` the live hub feeds each line's light (a state listener) and buttons call the andon
service in process. On an edge Pi the light follows the server's ``/ws`` stream and buttons raise
over HTTP with the edge's bearer token (``collector.edge_hardware``). Either way the latest state is
shown again within the light's fail-safe time; while the edge has no live stream nothing is shown,
so the light falls to its fail-safe pattern instead of freezing on a stale green.

The pieces live in their own modules (``andon_actions``, ``line_hardware``, ``edge_hardware``); their
names are importable from here too.
"""

from __future__ import annotations

from andon.follow import stream_url
from andon.services import Services
from andon.state import LiveState
from collector.andon_actions import NoOpenCall, RemoteAndonActions, RemoteAndonError, ServiceActions
from collector.edge_hardware import EdgeHardware, RemoteStateFeed, run_edge_hardware
from collector.line_hardware import LineHardware, StateGetter
from devices.connections import Connections

__all__ = [
    "EdgeHardware", "LineHardware", "NoOpenCall", "RemoteAndonActions", "RemoteAndonError", "RemoteStateFeed",
    "ServiceActions", "StateGetter", "attach_hardware", "run_edge_hardware", "stream_url",
]


def attach_hardware(services: Services, connections: Connections | None = None) -> LineHardware:
    """Build the lights and buttons of ``andon run`` and register their state listener with the hub."""
    hardware = LineHardware(services.config, ServiceActions(services.andons), services.clock,
                            connections=connections, refresh_state=services.states.of)

    def on_state(line_id: str, state: LiveState) -> None:
        hardware.state_listener(line_id, state.document)  # a light reads the document as it reads /ws states

    services.hub.state_listeners.append(on_state)
    return hardware
