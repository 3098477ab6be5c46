"""The Siemens S7 source against python-snap7's own S7 server on a loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from andon.clock import ManualClock
from devices.catalog import sources
from devices.connections import Connections
from devices.sources.s7 import S7Hub, S7Source, S7SourceConfig
from tests.conftest import RecordingSink, free_port, wait_for_port
from tests.devices.polling import advance, cancel, eventually, polls, set_clock, stepping

T0 = 1_764_320_400.0  # 2025-11-28T09:00:00Z
DB = 5


class Plc:
    """A snap7 server standing in for a CPU: DB5 of 64 bytes, shared with the test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.db = bytearray(64)
        self.server: Any = None

    def start(self) -> None:
        """Listen on the port with DB5 registered (the same bytes survive a restart)."""
        import snap7
        from snap7.type import SrvArea

        self.server = snap7.Server(log=False)
        self.server.register_area(SrvArea.DB, DB, self.db)
        self.server.start(tcp_port=self.port)
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the server, as a CPU switched off."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def clients(self) -> int:
        """Return how many clients are connected now."""
        return int(self.server.client_count)

    def set(self, datatype: str, offset: int, value: int) -> None:
        """Write a value into DB5 in S7 (big-endian) layout."""
        from snap7.util import set_dint, set_dword, set_int, set_word

        setter = {"int": set_int, "dint": set_dint, "word": set_word, "dword": set_dword}[datatype]
        setter(self.db, offset, value)


@pytest.fixture
def plc() -> Iterator[Plc]:
    """Run a snap7 server on a free loopback port for one test."""
    server = Plc(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config(port: int, **keys: Any) -> S7SourceConfig:
    """Build a source config for the test CPU with short poll and retry periods."""
    base: dict[str, Any] = {
        "type": "s7",
        "host": "127.0.0.1",
        "port": port,
        "db": DB,
        "offset": 0,
        "poll_seconds": 0.05,
        "reconnect_max_seconds": 0.2,
    }
    base.update(keys)
    return S7SourceConfig.model_validate(base)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one async scenario to the end."""
    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("datatype", "value", "bits", "signed"),
    [
        ("int", 32767, 16, True),
        ("int", -32768, 16, True),
        ("int", -1, 16, True),
        ("word", 65535, 16, False),
        ("dint", 2_147_483_647, 32, True),
        ("dint", -123_456, 32, True),
        ("dword", 4_294_967_295, 32, False),
        ("dword", 0x01020304, 32, False),
    ],
)
def test_reads_db_values_exactly(
    plc: Plc, datatype: str, value: int, bits: int, signed: bool
) -> None:
    """Each datatype decodes to the exact value the CPU holds, stamped by the clock."""
    plc.set(datatype, 10, value)
    cfg = config(plc.port, offset=10, datatype=datatype, mode="cumulative")
    assert (cfg.bits, cfg.signed) == (bits, signed)

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(T0)
        task = asyncio.create_task(S7Source(cfg, sink, Connections(clock)).run())
        try:
            await eventually(lambda: len(sink.readings) >= 1, task)
            plc.set(datatype, 10, 7)
            await set_clock(clock, T0 + 60, task)  # the one poll at T0 + 60 reads the new value
            await eventually(lambda: sink.values()[-1:] == [7], task)
        finally:
            await cancel(task)
        assert sink.readings[0] == {"value": value, "ts": T0, "event_id": None, "kind": None}
        assert set(sink.values()) == {value, 7}
        assert sink.readings[-1]["ts"] == T0 + 60
        assert sink.events == [("online", "")]

    run(scenario)


def test_sources_on_one_cpu_share_one_connection(plc: Plc) -> None:
    """Two sources on one CPU use one hub and one connection."""
    plc.set("dint", 0, 111_111)
    plc.set("int", 20, -222)

    async def scenario() -> None:
        sink_a, sink_b = RecordingSink(), RecordingSink()
        clock = ManualClock(T0)
        context = Connections(clock)
        source_a = S7Source(config(plc.port, offset=0, datatype="dint"), sink_a, context)
        source_b = S7Source(config(plc.port, offset=20, datatype="int"), sink_b, context)
        tasks = [asyncio.create_task(s.run()) for s in (source_a, source_b)]
        try:
            await stepping(clock, lambda: len(sink_a.readings) >= 3 and len(sink_b.readings) >= 3, *tasks)
            assert len(context.s7) == 1
            hub = context.s7.get(("127.0.0.1", plc.port, 0, 1))
            assert isinstance(hub, S7Hub)
            assert source_a.link is hub and source_b.link is hub
            assert hub.connections_made == 1
            assert plc.clients == 1
        finally:
            await cancel(*tasks)
        assert set(sink_a.values()) == {111_111}
        assert set(sink_b.values()) == {-222}
        assert len(context.s7) == 0

    run(scenario)


def test_cpu_stop_is_reported_once_and_restart_resumes_readings(plc: Plc) -> None:
    """CPU off: one offline naming host:port; CPU back: online again and exact values resume."""
    plc.set("dint", 4, 1000)

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, offset=4, datatype="dint", mode="cumulative")
        task = asyncio.create_task(S7Source(cfg, sink, Connections(clock)).run())
        try:
            await eventually(lambda: len(sink.readings) >= 1, task)
            await asyncio.to_thread(plc.stop)
            await stepping(clock, lambda: len(sink.events) >= 2, task)
            readings_when_offline = len(sink.readings)
            await advance(clock, 0.6, task)  # a dozen poll periods and several reconnect attempts
            assert len(sink.events) == 2
            assert len(sink.readings) == readings_when_offline
            plc.set("dint", 4, 1005)
            await asyncio.to_thread(plc.start)
            await set_clock(clock, T0 + 5, task)  # a reconnect is due: the poll at T0 + 5 reads
            await eventually(lambda: sink.values()[-1:] == [1005], task)
        finally:
            await cancel(task)
        assert [kind for kind, _ in sink.events] == ["online", "offline", "online"]
        assert sink.events[1][1].startswith(f"PLC 127.0.0.1:{plc.port} unreachable: ")
        assert set(sink.values()[:readings_when_offline]) == {1000}
        assert sink.readings[-1] == {"value": 1005, "ts": T0 + 5, "event_id": None, "kind": None}

    run(scenario)


def test_missing_db_marks_source_offline_once(plc: Plc) -> None:
    """A DB the CPU does not have gives one offline naming the address, and no readings."""

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(T0)
        task = asyncio.create_task(S7Source(config(plc.port, db=9, offset=2), sink, Connections(clock)).run())
        try:
            await eventually(lambda: len(sink.events) >= 1, task)
            await advance(clock, 0.3, task)  # six more refused reads
        finally:
            await cancel(task)
        assert sink.readings == []
        assert len(sink.events) == 1
        kind, reason = sink.events[0]
        assert kind == "offline"
        assert reason.startswith(f"PLC 127.0.0.1:{plc.port} refused to read DB9.DBB2 (4 bytes): ")

    run(scenario)


def test_pulse_mode_counts_rising_edges(plc: Plc) -> None:
    """Pulse mode on a part-done word: each 0 -> non-zero is one reading of 1."""
    plc.set("word", 30, 1)  # already on at start: not a new part

    async def scenario() -> None:
        sink = RecordingSink()
        clock = ManualClock(T0)
        cfg = config(plc.port, offset=30, datatype="word", mode="pulse")
        source = S7Source(cfg, sink, Connections(clock))
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: sink.events == [("online", "")], task)
            await polls(clock, 3, task)
            for n in range(1, 4):
                plc.set("word", 30, 0)
                await polls(clock, 3, task)
                plc.set("word", 30, 1)
                await set_clock(clock, T0 + n, task)  # the poll that sees the rise
                await eventually(lambda n=n: len(sink.readings) == n, task)  # type: ignore[misc]
                await polls(clock, 3, task)
        finally:
            await cancel(task)
        assert sink.readings == [
            {"value": 1, "ts": T0 + n, "event_id": None, "kind": None} for n in (1, 2, 3)
        ]

    run(scenario)


def test_registered_under_s7() -> None:
    """The registry maps type s7 to this driver."""
    driver = sources()["s7"]
    assert driver.config_model is S7SourceConfig
    assert driver.driver_class is S7Source


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"db": 1, "offset": 0, "area": "DB"}, "Extra inputs are not permitted"),
        ({"offset": 0}, "db"),
        ({"db": 1, "offset": 0, "datatype": "real"}, "datatype"),
        ({"db": 1, "offset": 0, "datatype": "int", "bits": 32}, "datatype int is 16-bit signed"),
        ({"db": 1, "offset": 0, "datatype": "dword", "signed": True}, "signed: True contradicts"),
        ({"db": 0, "offset": 0}, "db"),
        ({"db": 1, "offset": 0, "rack": 9}, "rack"),
    ],
)
def test_config_rejects_bad_keys(keys: dict[str, Any], message: str) -> None:
    """Unknown keys, bad values and widths that contradict the datatype are refused."""
    with pytest.raises(ValidationError, match=message):
        S7SourceConfig.model_validate({"type": "s7", "host": "10.0.0.7", **keys})


def test_config_defaults() -> None:
    """Port 102, rack 0, slot 1, DINT (32-bit signed), one poll a second."""
    cfg = S7SourceConfig.model_validate({"type": "s7", "host": "10.0.0.7", "db": 1, "offset": 4})
    assert (cfg.port, cfg.rack, cfg.slot, cfg.datatype, cfg.bits, cfg.signed, cfg.poll_seconds) == (
        102, 0, 1, "dint", 32, True, 1.0,
    )
    matching = {"type": "s7", "host": "h", "db": 1, "offset": 0, "datatype": "word", "bits": 16}
    assert S7SourceConfig.model_validate(matching).signed is False
