"""Latency from a line state change (or an andon button press) to the light command on the wire.

Peers run in their own threads: a TCP server speaking Patlite PNS (answers ACK) and a pymodbus
TCP server. Each figure is 1,000 changes; the time runs from the state change (or the write of
the button's command line) to the moment the peer has the whole command. Run:

    python bench/lights.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import sys
import threading
import time
import tty
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from andon.clock import SystemClock  # noqa: E402
from devices.buttons.serial_line import SerialAndonButton, SerialButtonConfig  # noqa: E402
from devices.connections import Connections
from devices.lights.modbus import ModbusLightConfig, ModbusStackLight  # noqa: E402
from devices.lights.patlite import PatliteLightConfig, PatliteStackLight  # noqa: E402
from devices.stack_light import StackLight  # noqa: E402

CHANGES = 1000
STATES: list[dict[str, Any]] = [
    {"line": "line1", "condition": "normal", "open_andons": []},
    {"line": "line1", "condition": "warning", "open_andons": []},
    {
        "line": "line1",
        "condition": "normal",
        "open_andons": [{"category": "quality", "state": "raised", "tier_index": 0}],
    },
    {
        "line": "line1",
        "condition": "abnormal",
        "open_andons": [{"category": "safety", "state": "raised", "tier_index": 1}],
    },
]
STEADY_STATES = STATES[:2] + [{"line": "line1", "condition": "abnormal", "open_andons": []}]


class ArrivalLog:
    """Times (perf_counter) at which a peer had a whole command, with a condition to wait on."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.changed = threading.Condition()

    def arrived(self) -> None:
        """Record one command now."""
        with self.changed:
            self.times.append(time.perf_counter())
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> float:
        """Wait until ``count`` commands arrived; return the time of the last one."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.times) >= count, timeout):
                raise TimeoutError(f"command {count} never arrived")
            return self.times[count - 1]


def patlite_tower(log: ArrivalLog) -> tuple[int, Callable[[], None]]:
    """Start a PNS tower thread on a free port; return (port, stop)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stopping = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffer = b""
                conn.settimeout(0.2)
                while not stopping.is_set():
                    try:
                        chunk = conn.recv(4096)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    buffer += chunk
                    while len(buffer) >= 6 and len(buffer) >= 6 + int.from_bytes(buffer[4:6]):
                        size = 6 + int.from_bytes(buffer[4:6])
                        assert buffer[:3] == b"ABS", buffer[:size].hex(" ")
                        buffer = buffer[size:]
                        log.arrived()
                        conn.sendall(b"\x06")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(5)
        listener.close()

    return port, stop


def modbus_server(log: ArrivalLog) -> tuple[int, Callable[[], None]]:
    """Start a pymodbus TCP server thread on a free port; return (port, stop)."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loop = asyncio.new_event_loop()
    device = SimDevice(
        1,
        simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
        ),
    )

    def trace(sending: bool, pdu: Any) -> Any:
        if not sending and "Write" in type(pdu).__name__:
            log.arrived()
        return pdu

    server = ModbusTcpServer(device, address=("127.0.0.1", port), trace_pdu=trace)
    stopping = asyncio.Event()

    async def serve() -> None:
        task = asyncio.create_task(server.serve_forever())
        await stopping.wait()
        await server.shutdown()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.02)

    def stop() -> None:
        loop.call_soon_threadsafe(stopping.set)
        thread.join(5)
        loop.close()

    return port, stop


def figures(name: str, latencies: list[float]) -> None:
    """Print p50/p99/max in milliseconds."""
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    verdict = "ok" if p99 < 50 else "OVER TARGET"
    print(
        f"{name:<44} n={len(ms)}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
        f"max {ms[-1]:6.2f} ms  (target p99 < 50 ms: {verdict})"
    )


async def state_changes(light: StackLight, log: ArrivalLog, states: list[dict[str, Any]]) -> list[float]:
    """Show CHANGES state changes; return each one's latency to the wire."""
    latencies = []
    await light.show_state(states[-1])
    base = len(log.times)
    for i in range(CHANGES):
        start = time.perf_counter()
        await light.show_state(states[i % len(states)])
        arrived = await asyncio.to_thread(log.wait_for, base + i + 1)
        latencies.append(arrived - start)
    return latencies


class BenchAndon:
    """A minimal andon service: raise/resolve change the line state and show it on the light."""

    def __init__(self, light: StackLight, loop: asyncio.AbstractEventLoop) -> None:
        self.light = light
        self.loop = loop
        self.open: list[dict[str, Any]] = []

    def _show(self) -> None:
        state = {"line": "line1", "condition": "normal", "open_andons": list(self.open)}
        asyncio.run_coroutine_threadsafe(self.light.show_state(state), self.loop).result(5)

    def raise_call(self, line: str, station: str, category: str, source: str) -> None:
        """Open a call and show it."""
        self.open = [{"station": station, "category": category, "state": "raised", "tier_index": 0}]
        self._show()

    def acknowledge(self, line: str, station: str, category: str, source: str) -> None:
        """Acknowledge the open call and show it."""
        self.open = [dict(c, state="acknowledged") for c in self.open]
        self._show()

    def resolve(self, line: str, station: str, category: str, source: str) -> None:
        """Close the call and show it."""
        self.open = []
        self._show()


async def button_presses(light: StackLight, log: ArrivalLog) -> list[float]:
    """Press a serial andon button CHANGES times (RAISE, RESOLVE, ...); return latencies."""
    master, slave = os.openpty()
    tty.setraw(master)
    context = Connections(SystemClock())
    config = SerialButtonConfig(
        type="serial", port=os.ttyname(slave), station="st3", category="quality", repeat_guard_seconds=0, reply=False
    )
    andon = BenchAndon(light, asyncio.get_running_loop())
    button = SerialAndonButton(config, "line1", andon, context)
    task = asyncio.create_task(button.run())
    await asyncio.to_thread(button.port_open.wait, 5)
    await light.show_state({"line": "line1", "condition": "normal", "open_andons": []})
    base = len(log.times)
    latencies = []
    try:
        for i in range(CHANGES):
            start = time.perf_counter()
            os.write(master, b"RAISE\n" if i % 2 == 0 else b"RESOLVE\n")
            arrived = await asyncio.to_thread(log.wait_for, base + i + 1)
            latencies.append(arrived - start)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        os.close(master)
        os.close(slave)
    return latencies


async def bench(
    run: Callable[[StackLight, ArrivalLog], Awaitable[list[float]]],
    light_of: Callable[[int], StackLight],
    peer: Callable[[ArrivalLog], tuple[int, Callable[[], None]]],
) -> list[float]:
    """Start a peer and a light, run one measurement, stop both."""
    log = ArrivalLog()
    port, stop = peer(log)
    light = light_of(port)
    try:
        return await run(light, log)
    finally:
        await light.close()
        stop()


def main() -> None:
    """Print the latency figures."""
    context = Connections(SystemClock())

    def patlite(port: int) -> StackLight:
        return PatliteStackLight(PatliteLightConfig(type="patlite", host="127.0.0.1", port=port), context)

    def modbus(port: int) -> StackLight:
        coils = {"red": 0, "yellow": 1, "green": 2, "blue": 3, "white": 4, "buzzer": 5}
        return ModbusStackLight(ModbusLightConfig(type="modbus", host="127.0.0.1", port=port, coils=coils), context)

    print(f"stack light latency, {CHANGES} changes each, Python {sys.version.split()[0]}")
    figures(
        "state change -> Patlite PNS command",
        asyncio.run(bench(lambda light, log: state_changes(light, log, STATES), patlite, patlite_tower)),
    )
    figures(
        "state change -> Modbus write coils",
        asyncio.run(bench(lambda light, log: state_changes(light, log, STEADY_STATES), modbus, modbus_server)),
    )
    figures("serial button press -> Patlite PNS command", asyncio.run(bench(button_presses, patlite, patlite_tower)))


if __name__ == "__main__":
    main()
