"""The serial line source against a real pseudo-terminal pair made by socat."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from andon.clock import ManualClock
from devices.catalog import sources
from devices.connections import Connections
from devices.sources.serial_line import SerialLineSource, SerialSourceConfig
from tests.conftest import RecordingSink, wait_until
from tests.devices.polling import RunningSource

T0 = 1_700_000_000.0


class SocatPair:
    """Two linked pseudo-terminals: the driver opens ``device``, the test writes to ``peer``."""

    def __init__(self, workdir: Path) -> None:
        self.device = workdir / "ttyCOUNTER"
        self.peer = workdir / "ttyPEER"
        self.proc: subprocess.Popen[bytes] | None = None
        self._peer_fd: int | None = None

    def start(self) -> None:
        """Start socat and wait until both link paths exist."""
        binary = shutil.which("socat") or "/usr/bin/socat"
        self.proc = subprocess.Popen(
            [
                binary,
                f"pty,raw,echo=0,link={self.device}",
                f"pty,raw,echo=0,link={self.peer}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.device.exists() and self.peer.exists(), timeout=5)
        self._peer_fd = os.open(self.peer, os.O_RDWR | os.O_NOCTTY)

    def write(self, data: bytes) -> None:
        """Send bytes as the device on the far end of the cable would."""
        assert self._peer_fd is not None
        os.write(self._peer_fd, data)

    def stop(self) -> None:
        """Pull the adapter: stop socat, which removes both link paths."""
        if self._peer_fd is not None:
            os.close(self._peer_fd)
            self._peer_fd = None
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def socat_pair(tmp_path: Path) -> Iterator[SocatPair]:
    """Run a socat pseudo-terminal pair for one test."""
    pair = SocatPair(tmp_path)
    pair.start()
    try:
        yield pair
    finally:
        pair.stop()


def make_source(port: Path, **keys: Any) -> tuple[SerialLineSource, RecordingSink]:
    """Build a serial source on ``port`` with a manual clock and a recording sink."""
    config = SerialSourceConfig.model_validate({"port": str(port), "retry_max_seconds": 0.2, **keys})
    sink = RecordingSink()
    return SerialLineSource(config, sink, Connections(ManualClock(T0))), sink


def test_good_lines_are_counted_and_garbage_rejected(socat_pair: SocatPair) -> None:
    source, sink = make_source(socat_pair.device)
    with RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        socat_pair.write(b"1\nhello\n\xff\xfe\x80\n  2 \r\n12abc\n\n3\n")
        running.until(lambda: len(sink.readings) == 3 and sum(source.rejected.values()) == 3)
        socat_pair.write(b"-4\n")
        running.until(lambda: len(sink.readings) == 4)
    assert sink.values() == [1, 2, 3, -4]
    assert [r["ts"] for r in sink.readings] == [T0] * 4
    assert [r["event_id"] for r in sink.readings] == [None] * 4
    assert source.rejected == {"no_match": 2, "undecodable": 1}
    assert source.accepted == 4
    assert sink.events == [("online", "")]


@pytest.mark.usefixtures("files_past_1023")
def test_a_port_opened_past_descriptor_1023_is_read(socat_pair: SocatPair) -> None:
    source, sink = make_source(socat_pair.device)
    with RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        socat_pair.write(b"1\n2\n")
        running.until(lambda: len(sink.readings) == 2)
    assert sink.values() == [1, 2]
    assert source.rejected == {}


def test_rejected_lines_show_on_metrics(socat_pair: SocatPair) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from andon.config.loader import parse_config
    from collector.outputs import SourceRejects
    from collector.sources import SourceRunner

    config = parse_config(f"""shifts: [{{id: a, start: "06:00", end: "14:00"}}]
lines: [{{id: line1, takt_seconds: 60, sources: [{{type: serial, id: scale, port: "{socat_pair.device}"}}]}}]
""")
    sink = RecordingSink()
    runner = SourceRunner(config, lambda line, source: sink, ManualClock(T0))
    runner.build()
    source = runner.drivers[("line1", "scale")]
    registry = CollectorRegistry()
    registry.register(SourceRejects(runner))
    with RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        socat_pair.write(b"1\nhello\n\xff\n2\n")
        running.until(lambda: len(sink.readings) == 2 and sum(source.rejected.values()) == 2)
    text = generate_latest(registry).decode()
    assert 'andon_source_payloads_rejected_total{line="line1",reason="no_match",source="scale"} 1.0' in text
    assert 'andon_source_payloads_rejected_total{line="line1",reason="undecodable",source="scale"} 1.0' in text


def test_regex_with_time_and_id_groups(socat_pair: SocatPair) -> None:
    source, sink = make_source(
        socat_pair.device,
        regex=r"^CNT;(?P<id>\w+);(?P<ts>[0-9.]+);(?P<count>\d+)$",
        newline="\r\n",
    )
    with RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        socat_pair.write(b"CNT;a1;1700000001.5;5\r\nCNT;a2;1700000002;7\r\nCNT;bad\r\n")
        running.until(lambda: len(sink.readings) == 2 and source.rejected == {"no_match": 1})
    assert sink.readings == [
        {"value": 5, "ts": "1700000001.5", "event_id": "a1", "kind": None},
        {"value": 7, "ts": "1700000002", "event_id": "a2", "kind": None},
    ]


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "split-write"])
def test_overlong_line_is_one_rejection(socat_pair: SocatPair, split: bool) -> None:
    source, sink = make_source(socat_pair.device, max_line_bytes=100)
    with RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        if split:  # the line end arrives after the driver has given up on the line
            socat_pair.write(b"9" * 500)
            running.until(lambda: source.rejected == {"too_long": 1})
            socat_pair.write(b"9" * 500 + b"\n8\n")
        else:
            socat_pair.write(b"9" * 1000 + b"\n8\n")
        running.until(lambda: len(sink.readings) == 1)
    assert sink.values() == [8]
    assert source.rejected == {"too_long": 1}


def clock_of(source: SerialLineSource) -> ManualClock:
    """Return the manual clock a test source runs on."""
    clock = source.connections.clock
    assert isinstance(clock, ManualClock)
    return clock


def test_vanished_adapter_goes_offline_once_and_comes_back(socat_pair: SocatPair) -> None:
    source, sink = make_source(socat_pair.device)
    clock = clock_of(source)
    with RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        socat_pair.write(b"1\n2\n")
        running.until(lambda: len(sink.readings) == 2)

        socat_pair.stop()
        running.until(lambda: len(sink.events) == 2)
        running.advance(clock, 1.0)  # several reopen attempts at the 0.2 s backoff cap
        assert [e[0] for e in sink.events] == ["online", "offline"]
        assert sink.events[1][1].startswith(f"serial {socat_pair.device} unavailable: ")

        socat_pair.start()
        running.stepping(clock, lambda: len(sink.events) == 3)
        assert sink.events[2] == ("online", "")
        socat_pair.write(b"3\n4\n5\n")
        running.until(lambda: len(sink.readings) == 5)
    assert sink.values() == [1, 2, 3, 4, 5]
    assert source.rejected == {}


def test_missing_port_at_start_is_offline_once(tmp_path: Path) -> None:
    source, sink = make_source(tmp_path / "ttyNOPE")
    with RunningSource(source) as running:
        running.until(lambda: len(sink.events) == 1)
        running.advance(clock_of(source), 0.6)  # several reopen attempts
    assert [e[0] for e in sink.events] == ["offline"]
    assert sink.events[0][1].startswith(f"serial {tmp_path / 'ttyNOPE'} unavailable: ")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"regex": r"(?P<n>\d+)"}, "named group `count`"),
        ({"regex": r"(?P<count>\d+"}, "does not compile"),
        ({"encoding": "klingon"}, "unknown text encoding"),
        ({"parity": "X"}, "parity"),
        ({"baud": 0}, "baud"),
        ({"stopbits": 3}, "stopbits must be 1, 1.5 or 2"),
        ({"newline": ""}, "newline"),
        ({"bauds": 9600}, "bauds"),
    ],
)
def test_bad_config_is_refused(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SerialSourceConfig.model_validate({"port": "/dev/ttyUSB0", **keys})


def test_registered_as_serial() -> None:
    driver = sources()["serial"]
    assert driver.config_model is SerialSourceConfig
    assert driver.driver_class is SerialLineSource
    config = SerialSourceConfig.model_validate({"type": "serial", "port": "/dev/ttyUSB0"})
    assert (config.baud, config.bytesize, config.parity, config.stopbits) == (9600, 8, "N", 1)
    assert SerialLineSource(config, RecordingSink(), Connections(ManualClock(T0))).describe() == (
        "serial /dev/ttyUSB0 9600 8N1"
    )
