"""The OPC UA source against a real asyncua server on a loopback port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from andon.clock import ManualClock
from devices.catalog import sources
from devices.connections import Connections
from devices.sources.opcua import OpcuaSource, OpcuaSourceConfig, epoch_seconds
from tests.conftest import RecordingSink, free_port
from tests.devices.polling import advance, cancel, eventually, stepping

T0 = 1_764_320_400.0  # 2025-11-28T09:00:00Z
NUMERIC = "ns=2;i=2"  # UInt32 counter
NAMED = "ns=2;s=Counter"  # Int32 counter
FLAG = "ns=2;s=PartDone"  # Boolean


class UaServer:
    """An asyncua server in its own thread and loop, with three variables the test writes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}/andon/"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="opcua-server", daemon=True)
        self.thread.start()
        self.server: Any = None
        self.variables: dict[str, Any] = {}

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=30)

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        ns = await server.register_namespace("urn:andon:test")
        assert ns == 2
        line = await server.nodes.objects.add_object(ns, "Line1")
        self.variables = {
            NUMERIC: await line.add_variable(
                ua.NodeId.from_string(NUMERIC), "Parts", ua.Variant(0, ua.VariantType.UInt32)
            ),
            NAMED: await line.add_variable(
                ua.NodeId.from_string(NAMED), "Counter", ua.Variant(0, ua.VariantType.Int32)
            ),
            FLAG: await line.add_variable(
                ua.NodeId.from_string(FLAG), "PartDone", ua.Variant(False, ua.VariantType.Boolean)
            ),
        }
        await server.start()
        self.server = server

    def start(self) -> None:
        """Start serving (takes a second or two), every variable zero."""
        self._call(self._start())

    def stop(self) -> None:
        """Stop serving, as a server switched off."""
        if self.server is not None:
            self._call(self.server.stop())
            self.server = None

    def write(self, node: str, value: Any, source_time: float | None = None, status: Any = None) -> None:
        """Set a variable from the server side, with a source timestamp and status if given."""
        from asyncua import ua

        variant_type = {
            NUMERIC: ua.VariantType.UInt32,
            NAMED: ua.VariantType.Int32,
            FLAG: ua.VariantType.Boolean,
        }[node]
        stamp = None
        if source_time is not None:
            stamp = ua.DateTime.fromtimestamp(source_time, UTC)
        data_value = ua.DataValue(
            ua.Variant(value, variant_type),
            StatusCode=ua.StatusCode(status) if status is not None else ua.StatusCode(),
            SourceTimestamp=stamp,
        )
        self._call(self.variables[node].write_value(data_value))

    async def _cancel_leftovers(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """Stop the server, the session tasks it leaves behind, and its thread."""
        self.stop()
        self._call(self._cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def ua_server() -> Iterator[UaServer]:
    """One asyncua server for the session (it takes about two seconds to start)."""
    server = UaServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()


def config(url: str, **keys: Any) -> OpcuaSourceConfig:
    """Build a source config with short poll and retry periods."""
    base: dict[str, Any] = {
        "type": "opcua",
        "url": url,
        "node": NUMERIC,
        "poll_seconds": 0.05,
        "timeout_seconds": 2.0,
        "reconnect_max_seconds": 0.2,
        "mode": "cumulative",
    }
    base.update(keys)
    return OpcuaSourceConfig.model_validate(base)


async def start(source: OpcuaSource) -> asyncio.Task[None]:
    """Run a source as a task."""
    return asyncio.create_task(source.run())


def write(server: UaServer, *args: Any, **keys: Any) -> Coroutine[Any, Any, None]:
    """Write on the server without blocking the test's loop."""
    return asyncio.to_thread(server.write, *args, **keys)


def reading(value: Any, ts: float) -> dict[str, Any]:
    """Return what RecordingSink records for one reading."""
    return {"value": value, "ts": ts, "event_id": None, "kind": None}


@pytest.mark.parametrize("subscribe", [True, False], ids=["subscription", "poll"])
def test_values_arrive_exactly_with_source_timestamps(ua_server: UaServer, subscribe: bool) -> None:
    """Each value the server holds arrives exactly, stamped with the server's source time."""
    ua_server.write(NUMERIC, 100, source_time=T0)

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(0)
        source = OpcuaSource(config(ua_server.url, subscribe=subscribe), sink, Connections(clock))
        task = await start(source)
        try:
            await eventually(lambda: sink.values()[-1:] == [100], task)
            for n in (1, 2, 3):
                await write(ua_server, NUMERIC, 100 + n, source_time=T0 + n)
                await stepping(clock, lambda n=n: sink.values()[-1:] == [100 + n], task)  # type: ignore[misc]
        finally:
            await cancel(task)
        distinct = [r for i, r in enumerate(sink.readings) if i == 0 or sink.readings[i - 1] != r]
        assert distinct == [reading(100 + n, T0 + n) for n in range(4)]
        assert sink.events == [("online", "")]

    asyncio.run(scenario())


def test_string_node_id_and_signed_values(ua_server: UaServer) -> None:
    """A node named by string holds an Int32; negative values arrive as they are."""
    ua_server.write(NAMED, -5, source_time=T0)

    async def scenario() -> None:
        sink = RecordingSink()
        cfg = config(ua_server.url, node=NAMED, bits=32, signed=True)
        task = await start(OpcuaSource(cfg, sink, Connections(ManualClock(0))))
        try:
            await eventually(lambda: sink.values()[-1:] == [-5], task)
            await write(ua_server, NAMED, 2_147_483_647, source_time=T0 + 1)
            await eventually(lambda: sink.values()[-1:] == [2_147_483_647], task)
        finally:
            await cancel(task)
        assert sink.readings == [reading(-5, T0), reading(2_147_483_647, T0 + 1)]

    asyncio.run(scenario())


def test_flag_in_pulse_mode_counts_rising_edges(ua_server: UaServer) -> None:
    """Pulse mode on a Boolean: each false -> true is one reading of 1 at the source time."""
    ua_server.write(FLAG, True, source_time=T0)  # already on at start: not a new part

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(0)
        cfg = config(ua_server.url, node=FLAG, mode="pulse")
        task = await start(OpcuaSource(cfg, sink, Connections(clock)))
        try:
            await eventually(lambda: sink.events == [("online", "")], task)
            for n in (1, 2, 3):
                await write(ua_server, FLAG, False, source_time=T0 + n - 0.5)
                await asyncio.sleep(0.2)  # the server's publishing interval (0.05 s): it sends the false first
                await write(ua_server, FLAG, True, source_time=T0 + n)
                await stepping(clock, lambda n=n: len(sink.readings) == n, task)  # type: ignore[misc]
        finally:
            await cancel(task)
        assert sink.readings == [reading(1, T0 + n) for n in (1, 2, 3)]

    asyncio.run(scenario())


def test_bad_status_marks_source_offline_until_good(ua_server: UaServer) -> None:
    """A value with a bad status code is not counted: offline with the status name, then online."""
    from asyncua import ua

    ua_server.write(NAMED, 10, source_time=T0)

    async def scenario() -> None:
        sink = RecordingSink()
        cfg = config(ua_server.url, node=NAMED)
        task = await start(OpcuaSource(cfg, sink, Connections(ManualClock(0))))
        try:
            await eventually(lambda: sink.values() == [10], task)
            await write(
                ua_server, NAMED, 0, source_time=T0 + 1, status=ua.StatusCodes.BadSensorFailure
            )
            await eventually(lambda: len(sink.events) == 2, task)
            await write(ua_server, NAMED, 11, source_time=T0 + 2)
            await eventually(lambda: sink.values() == [10, 11], task)
        finally:
            await cancel(task)
        assert sink.events == [
            ("online", ""),
            ("offline", f"OPC UA node {NAMED} on {ua_server.url} reports BadSensorFailure"),
            ("online", ""),
        ]
        assert sink.readings == [reading(10, T0), reading(11, T0 + 2)]

    asyncio.run(scenario())


def test_unknown_node_is_reported_once(ua_server: UaServer) -> None:
    """A node the server does not have: one offline naming it, retries go on quietly."""

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(0)
        cfg = config(ua_server.url, node="ns=2;i=999")
        task = await start(OpcuaSource(cfg, sink, Connections(clock)))
        try:
            await eventually(lambda: len(sink.events) == 1, task)
            await advance(clock, 0.5, task)  # several reconnect attempts
        finally:
            await cancel(task)
        assert len(sink.events) == 1
        kind, reason = sink.events[0]
        assert kind == "offline"
        assert reason.startswith(f"OPC UA server {ua_server.url} refused node ns=2;i=999: ")
        assert "BadNodeIdUnknown" in reason
        assert sink.readings == []

    asyncio.run(scenario())


@pytest.mark.parametrize("subscribe", [True, False], ids=["subscription", "poll"])
def test_server_stop_is_reported_once_and_restart_resumes(ua_server: UaServer, subscribe: bool) -> None:
    """Server off: one offline naming the url; server back: online and exact values again."""
    ua_server.write(NUMERIC, 40, source_time=T0)

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(0)
        cfg = config(ua_server.url, subscribe=subscribe)
        task = await start(OpcuaSource(cfg, sink, Connections(clock)))
        try:
            await eventually(lambda: sink.values()[-1:] == [40], task)
            await asyncio.to_thread(ua_server.stop)
            await stepping(clock, lambda: len(sink.events) == 2, task)
            await advance(clock, 0.6, task)  # a dozen poll periods and several reconnect attempts
            assert len(sink.events) == 2
            offline_readings = len(sink.readings)
            await asyncio.to_thread(ua_server.start)
            await write(ua_server, NUMERIC, 41, source_time=T0 + 60)
            await stepping(clock, lambda: sink.values()[-1:] == [41], task)
        finally:
            await cancel(task)
        assert [kind for kind, _ in sink.events] == ["online", "offline", "online"]
        assert sink.events[1][1].startswith(f"OPC UA server {ua_server.url} unreachable: ")
        assert set(sink.values()[:offline_readings]) == {40}
        assert sink.readings[-1] == reading(41, T0 + 60)

    asyncio.run(scenario())


def test_unreachable_server_at_start_is_reported_once() -> None:
    """Nothing listening: one offline naming the url and no readings."""
    url = f"opc.tcp://127.0.0.1:{free_port()}/"

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(0)
        task = await start(OpcuaSource(config(url), sink, Connections(clock)))
        try:
            await eventually(lambda: len(sink.events) == 1, task)
            await advance(clock, 0.5, task)  # several reconnect attempts
        finally:
            await cancel(task)
        assert len(sink.events) == 1
        assert sink.events[0][0] == "offline"
        assert sink.events[0][1].startswith(f"OPC UA server {url} unreachable: ")

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (None, 123.0),
        (datetime(2025, 11, 28, 9, 0, tzinfo=UTC), T0),
        (datetime(2025, 11, 28, 9, 0), T0),  # asyncua may hand naive UTC times
    ],
)
def test_epoch_seconds(stamp: datetime | None, expected: float) -> None:
    """Source timestamps become epoch seconds; without one the clock's time is used."""
    assert epoch_seconds(stamp, 123.0) == expected


def test_registered_under_opcua() -> None:
    """The registry maps type opcua to this driver."""
    driver = sources()["opcua"]
    assert driver.config_model is OpcuaSourceConfig
    assert driver.driver_class is OpcuaSource


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"node": NUMERIC, "namespace": 2}, "Extra inputs are not permitted"),
        ({"node": NUMERIC, "url": "http://10.0.0.9:4840"}, "starts with opc.tcp://"),
        ({"node": "Counter"}, "is not a node id"),
        ({"node": NUMERIC, "security": "Basic256Sha256,Encrypt,c.pem,k.pem"}, "security is"),
        ({"node": NUMERIC, "security": "Basic256Sha256"}, "security is"),
        ({"node": NUMERIC, "poll_seconds": -1}, "poll_seconds"),
    ],
)
def test_config_rejects_bad_keys(keys: dict[str, Any], message: str) -> None:
    """Unknown keys, bad urls, node ids and security strings are refused with a clear message."""
    with pytest.raises(ValidationError, match=message):
        OpcuaSourceConfig.model_validate({"type": "opcua", "url": "opc.tcp://10.0.0.9:4840", **keys})


def test_config_accepts_security_and_user() -> None:
    """A full secured config validates as written."""
    cfg = OpcuaSourceConfig.model_validate(
        {
            "type": "opcua",
            "url": "opc.tcp://10.0.0.9:4840",
            "node": "nsu=urn:plant:line1;s=Line1.Counter",
            "security": "Basic256Sha256,SignAndEncrypt,cert.pem,key.pem",
            "username": "andon",
            "password": "secret",
        }
    )
    assert (cfg.subscribe, cfg.poll_seconds, cfg.security) == (
        True, 1.0, "Basic256Sha256,SignAndEncrypt,cert.pem,key.pem",
    )
