"""Serial line ends against a real pseudo-terminal pair: CR only, CR LF, a regex, and a port with no line end."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.clock import ManualClock
from devices.connections import Connections
from devices.sources.serial_line import SerialLineSource, SerialSourceConfig
from tests.conftest import RecordingSink
from tests.devices.polling import RunningSource
from tests.devices.test_serial import SocatPair

T0 = 1_700_000_000.0


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[SocatPair]:
    """A linked pseudo-terminal pair."""
    pair = SocatPair(tmp_path)
    pair.start()
    yield pair
    pair.stop()


def start(pair: SocatPair, **keys: object) -> tuple[SerialLineSource, RecordingSink, ManualClock]:
    """Build a serial source on the pair's device end."""
    clock = ManualClock(T0)
    config = SerialSourceConfig.model_validate({"port": str(pair.device), "retry_max_seconds": 0.2, **keys})
    sink = RecordingSink()
    return SerialLineSource(config, sink, Connections(clock)), sink, clock


@pytest.mark.parametrize(("keys", "data"), [
    ({"newline": "\r"}, b"1\r2\r3\r"),
    ({"newline": "\r\n"}, b"1\r\n2\r\n3\r\n"),
    ({"newline_regex": r"\r\n?|\n"}, b"1\r2\n3\r\n"),
])
def test_each_line_end_reads_every_count(pty: SocatPair, keys: dict[str, str], data: bytes) -> None:
    """CR only, CR LF and a regex for any of them: three lines, three counts."""
    source, sink, _ = start(pty, **keys)
    with RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        pty.write(data)
        running.until(lambda: len(sink.readings) == 3)
    assert sink.values() == [1, 2, 3]
    assert source.rejected == {}


def test_bytes_without_a_line_end_are_warned_about(pty: SocatPair, caplog: pytest.LogCaptureFixture) -> None:
    """A CR-only device on the default LF line end: nothing counted, and after 10 s one WARNING saying why."""
    source, sink, clock = start(pty)
    with caplog.at_level(logging.WARNING, logger="devices.sources.serial_line"), RunningSource(source) as running:
        running.until(lambda: sink.events == [("online", "")])
        pty.write(b"1\r2\r3\r")
        running.until(lambda: source.unended == 6)
        clock.advance(9.0)
        pty.write(b"4\r")
        running.until(lambda: source.unended == 8)
        clock.advance(1.0)
        running.until(lambda: any("no complete line" in r.getMessage() for r in caplog.records))
        clock.advance(30.0)
        pty.write(b"5\r")
        running.until(lambda: source.unended == 10)
    warnings = [r.getMessage() for r in caplog.records if "no complete line" in r.getMessage()]
    assert warnings == [
        f"serial {pty.device}: 8 bytes arrived but no complete line for 10 s; lines end with newline '\\n' here: "
        'does the device end them otherwise (CR only: newline: "\\r")?'
    ]
    assert sink.values() == []


def test_a_newline_regex_that_matches_nothing_is_refused() -> None:
    """A regex matching the empty string would split between every byte: refused with the reason."""
    with pytest.raises(ValueError, match="matches the empty string"):
        SerialSourceConfig.model_validate({"port": "/dev/null", "newline_regex": r"\r?"})
