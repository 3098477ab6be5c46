"""The EtherNet/IP source against cpppo's Logix simulator, written to with pylogix."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pylogix import PLC

from andon.clock import ManualClock
from devices.catalog import sources
from devices.connections import Connections
from devices.sources.ethernetip import EthernetIpSource, EthernetIpSourceConfig
from tests.conftest import RecordingSink, free_port, wait_for_port
from tests.devices.polling import advance, cancel, eventually, polls, stepping

T0 = 1_700_000_000.0


class EnipSimulator:
    """cpppo's EtherNet/IP controller simulator on a free loopback port; can be restarted."""

    def __init__(self, workdir: Path, tags: tuple[str, ...]) -> None:
        self.port = free_port()
        self.tags = tags
        self.log = workdir / "enip.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the simulator (tags start at zero) and wait until it accepts connections."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cpppo.server.enip", "--address", f"127.0.0.1:{self.port}"] + list(self.tags),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the simulator."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def write(self, tag: str, value: Any) -> None:
        """Write a tag as the PLC program would."""
        with PLC("127.0.0.1", port=self.port, timeout=3.0) as plc:
            response = plc.Write(tag, value)
        assert response.Status == "Success", response


@pytest.fixture
def plc(tmp_path: Path) -> Iterator[EnipSimulator]:
    """Run a simulated Logix controller with a DINT counter, a second counter and a BOOL."""
    simulator = EnipSimulator(tmp_path, ("Counter=DINT", "Other=DINT", "PartDone=BOOL"))
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


def make_source(port: int, context: Connections | None = None, **keys: Any) -> tuple[EthernetIpSource, RecordingSink]:
    """Build a source polling tag Counter fast, on a manual clock, with a recording sink."""
    config = EthernetIpSourceConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "tag": "Counter",
            "poll_seconds": 0.02,
            "timeout_seconds": 1.0,
            "reconnect_max_seconds": 0.1,
            **keys,
        }
    )
    sink = RecordingSink()
    return EthernetIpSource(config, sink, context or Connections(ManualClock(T0))), sink


def distinct(values: list[Any]) -> list[Any]:
    """Collapse runs of the same polled value into one."""
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def clock_of(source: EthernetIpSource) -> ManualClock:
    """Return the manual clock a test source runs on."""
    clock = source.connections.clock
    assert isinstance(clock, ManualClock)
    return clock


def write(plc: EnipSimulator, tag: str, value: Any) -> Coroutine[Any, Any, None]:
    """Write a tag without blocking the test's loop."""
    return asyncio.to_thread(plc.write, tag, value)


@pytest.mark.parametrize("micro800", [False, True])
def test_reads_counter_values_exactly(plc: EnipSimulator, micro800: bool) -> None:
    source, sink = make_source(plc.port, micro800=micro800)
    clock = clock_of(source)

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: sink.values()[-1:] == [0], task)
            for value in (5, 6, 2_147_483_647, -2_147_483_648, 17):
                await write(plc, "Counter", value)
                await stepping(clock, lambda v=value: sink.values()[-1:] == [v], task)  # type: ignore[misc]
        finally:
            await cancel(task)

    asyncio.run(scenario())
    assert distinct(sink.values()) == [0, 5, 6, 2_147_483_647, -2_147_483_648, 17]
    # one reading per poll, each stamped by the clock at its poll: one poll period (0.02 s) apart
    assert [r["ts"] for r in sink.readings] == pytest.approx([T0 + 0.02 * i for i in range(len(sink.readings))])
    assert len(sink.readings) == source.polls
    assert sink.events == [("online", "")]


def test_plc_stop_goes_offline_once_and_recovers(plc: EnipSimulator) -> None:
    plc.write("Counter", 41)
    source, sink = make_source(plc.port)
    clock = clock_of(source)
    readings_while_down = 0

    async def scenario() -> None:
        nonlocal readings_while_down
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: sink.values()[-1:] == [41], task)

            await asyncio.to_thread(plc.stop)
            await stepping(clock, lambda: len(sink.events) == 2, task)
            await advance(clock, 0.5, task)  # several failed polls at the 0.1 s backoff cap
            assert [e[0] for e in sink.events] == ["online", "offline"]
            assert sink.events[1][1].startswith(f"PLC 127.0.0.1:{plc.port} unreachable: ")
            readings_while_down = len(sink.readings)

            await asyncio.to_thread(plc.start)  # a restarted controller: its tags start at zero again
            await stepping(clock, lambda: len(sink.events) == 3, task)
            assert sink.events[2] == ("online", "")
            await write(plc, "Counter", 42)
            await stepping(clock, lambda: sink.values()[-1:] == [42], task)
        finally:
            await cancel(task)

    asyncio.run(scenario())
    assert distinct(sink.values()) == [41, 0, 42]
    assert distinct(sink.values()[readings_while_down:]) == [0, 42]
    assert [e[0] for e in sink.events] == ["online", "offline", "online"]


def test_unknown_tag_is_refused_once(plc: EnipSimulator) -> None:
    source, sink = make_source(plc.port, tag="NoSuchTag")

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: len(sink.events) == 1, task)
            await advance(clock_of(source), 0.3, task)  # fifteen more refused reads
        finally:
            await cancel(task)

    asyncio.run(scenario())
    assert sink.events == [
        (
            "offline",
            f"PLC 127.0.0.1:{plc.port} refused to read tag 'NoSuchTag': Path destination unknown",
        )
    ]
    assert sink.readings == []


def test_nothing_listening_is_unreachable() -> None:
    port = free_port()
    source, sink = make_source(port)

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: len(sink.events) == 1, task)
            await advance(clock_of(source), 0.3, task)  # several reconnect attempts
        finally:
            await cancel(task)

    asyncio.run(scenario())
    assert len(sink.events) == 1
    assert sink.events[0][0] == "offline"
    assert sink.events[0][1].startswith(f"PLC 127.0.0.1:{port} unreachable: ")


def test_pulse_mode_counts_rising_bool(plc: EnipSimulator) -> None:
    plc.write("PartDone", True)  # already true at start: not a new part
    source, sink = make_source(plc.port, tag="PartDone", mode="pulse")
    clock = clock_of(source)

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        try:
            await eventually(lambda: source.polls >= 1, task)
            for level in (False, True, True, False, True, False):
                await write(plc, "PartDone", level)
                await polls(clock, 2, task)
        finally:
            await cancel(task)

    asyncio.run(scenario())
    assert sink.values() == [1, 1]


def test_sources_on_one_plc_share_one_link(plc: EnipSimulator) -> None:
    clock = ManualClock(T0)
    context = Connections(clock)
    first, first_sink = make_source(plc.port, context)
    second, second_sink = make_source(plc.port, context, tag="Other")
    plc.write("Counter", 3)
    plc.write("Other", 4)

    async def scenario() -> None:
        tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
        try:
            await stepping(clock, lambda: first_sink.values()[-1:] == [3] and second_sink.values()[-1:] == [4],
                           *tasks)
            assert first.link is second.link
            assert first.link is not None and first.link.users == 2
            assert len(context.ethernetip) == 1
            assert context.ethernetip.get(("127.0.0.1", plc.port, 0, False)) is first.link
        finally:
            await cancel(*tasks)

    asyncio.run(scenario())
    assert len(context.ethernetip) == 0
    assert set(first_sink.values()) == {3}
    assert set(second_sink.values()) == {4}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"mode": "increment"}, "use mode cumulative"),
        ({"port": 0}, "port"),
        ({"tag": ""}, "tag"),
        ({"poll_seconds": 0}, "poll_seconds"),
        ({"slots": 1}, "slots"),
    ],
)
def test_bad_config_is_refused(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EthernetIpSourceConfig.model_validate({"host": "10.0.0.5", "tag": "Counter", **keys})


def test_registered_as_ethernetip() -> None:
    driver = sources()["ethernetip"]
    assert driver.config_model is EthernetIpSourceConfig
    assert driver.driver_class is EthernetIpSource
    config = EthernetIpSourceConfig.model_validate({"type": "ethernetip", "host": "10.0.0.5", "tag": "Counter"})
    assert (config.port, config.slot, config.micro800, config.mode, config.signed) == (
        44818,
        0,
        False,
        "cumulative",
        True,
    )
    link = EthernetIpSource(config, RecordingSink(), Connections(ManualClock(T0))).attach()
    assert link.key == ("10.0.0.5", 44818, 0, False)
