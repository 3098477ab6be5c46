"""Counts sent as text lines over a serial port (RS-232/RS-485 adapters, USB serial counters)."""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
import threading
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from andon.config.bases import SourceConfigBase
from andon.extras import PYSERIAL
from andon.payload import text_problem
from devices.base import CountSource, ReadingSink
from devices.catalog import Driver
from devices.connections import Connections
from devices.serial_read import poller_of, read_available

log = logging.getLogger(__name__)

DEFAULT_REGEX = r"^\s*(?P<count>[+-]?\d+)\s*$"
REOPEN_FIRST_SECONDS = 0.1  # the first wait before reopening a vanished port; it doubles up to retry_max_seconds


class SerialSourceConfig(SourceConfigBase):
    """A device that writes one line of text per reading to a serial port."""

    reference_notes: ClassVar[str] = r"""
**Reading lines.** Each line the device writes must match `regex`; the named group `count` is the
reading. A device writing `COUNT 1234` takes `regex: '^COUNT (?P<count>\d+)$'`; one writing
`1234;2025-11-28T09:00:00+01:00` takes `regex: '^(?P<count>\d+);(?P<ts>\S+)$'`. Lines that do not match
are thrown away with a log line (the first at WARNING, the rest at DEBUG).

**Line ends.** `newline` is what ends a line: `"\n"` (LF, the default; a trailing CR is dropped),
`"\r"` (CR only, as many scales and counters send), `"\r\n"`; or set `newline_regex` to a regex
such as `'\r\n?|\n'` (any of them). When a port sends bytes but no complete line for
`no_line_warning_seconds`, a WARNING says so and names the line end it waits for.
"""

    type: Literal["serial"] = "serial"
    port: str = Field(..., min_length=1, description="Serial device, e.g. /dev/ttyUSB0.")
    baud: int = Field(9600, gt=0, description="Baud rate of the port.", json_schema_extra={"unit": "bit/s"})
    bytesize: Literal[5, 6, 7, 8] = Field(8, description="Data bits per character.")
    parity: Literal["N", "E", "O", "M", "S"] = Field(
        "N", description="Parity: N(one), E(ven), O(dd), M(ark) or S(pace)."
    )
    stopbits: float = Field(1, description="Stop bits: 1, 1.5 or 2.")
    regex: str = Field(
        DEFAULT_REGEX,
        description="Python regex a line must match, with a named group `count` and optional "
        "named groups `ts` (epoch seconds or ISO 8601 with offset) and `id` (event id); "
        "the default matches a bare integer.",
    )
    encoding: str = Field("ascii", description="Text encoding of the lines.")
    newline: str = Field("\n", min_length=1, description="What ends a line; a trailing CR is ignored.")
    newline_regex: str | None = Field(
        None, description="A regex that ends a line (such as '\\r\\n?|\\n'), in place of newline."
    )
    no_line_warning_seconds: float = Field(
        10.0, gt=0, description="Warn when bytes arrive but no complete line for this long."
    )
    max_line_bytes: int = Field(4096, ge=16, description="A line longer than this is garbage and is thrown away.")
    retry_max_seconds: float = Field(10.0, gt=0, description="Longest wait between attempts to reopen a vanished port.")

    @field_validator("regex")
    @classmethod
    def _check_regex(cls, value: str) -> str:
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from None
        if "count" not in pattern.groupindex:
            raise ValueError("regex needs a named group `count`, e.g. (?P<count>\\d+)")
        return value

    @field_validator("newline_regex")
    @classmethod
    def _check_newline_regex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            pattern = re.compile(value.encode("latin-1"))
        except (re.error, UnicodeEncodeError) as exc:
            raise ValueError(f"newline_regex does not compile: {exc}") from None
        if pattern.match(b""):
            raise ValueError("newline_regex matches the empty string: it must match at least one byte")
        return value

    @field_validator("stopbits")
    @classmethod
    def _check_stopbits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError(f"stopbits must be 1, 1.5 or 2, not {value:g}")
        return value

    @field_validator("encoding")
    @classmethod
    def _check_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


class SerialLineSource(CountSource):
    """Read text lines from a serial port in a thread and hand matching ones to the sink."""

    libraries = (PYSERIAL,)

    config: SerialSourceConfig

    def __init__(self, config: SerialSourceConfig, sink: ReadingSink, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.accepted = 0
        self._pattern = re.compile(config.regex)
        self._newline = config.newline.encode(config.encoding)
        self._line_end = re.compile(
            config.newline_regex.encode("latin-1") if config.newline_regex else re.escape(self._newline)
        )
        self._warned_no_line = False
        self.unended = 0  # bytes read that wait for a line end

    async def run(self) -> None:
        """Read lines until cancelled, reopening the port (waits doubling on the clock) when it vanishes."""
        import serial  # lazily: pyserial is an optional extra

        c = self.config
        delay = REOPEN_FIRST_SECONDS
        is_offline: bool | None = None
        while True:
            try:
                port = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                if is_offline is not True:
                    log.error("serial %s unavailable: %s", c.port, exc)
                    self.sink.offline(f"serial {c.port} unavailable: {exc}")
                    is_offline = True
                else:
                    log.debug("serial %s still unavailable: %s", c.port, exc)
                await self.connections.clock.sleep(delay)
                delay = min(delay * 2, c.retry_max_seconds)
                continue
            delay = REOPEN_FIRST_SECONDS
            if is_offline:
                log.info("serial %s is back", c.port)
            is_offline = False
            self.sink.online()
            try:
                await self._read_until_lost(port)
            except (serial.SerialException, OSError) as exc:
                log.error("serial %s unavailable: %s", c.port, exc)
                self.sink.offline(f"serial {c.port} unavailable: {exc}")
                is_offline = True

    def _open(self) -> Any:
        import serial

        c = self.config
        return serial.Serial(c.port, c.baud, bytesize=c.bytesize, parity=c.parity, stopbits=c.stopbits, timeout=0.1)

    async def _read_until_lost(self, port: Any) -> None:
        """Read lines in a thread until the port fails (its error is raised here) or the task is cancelled."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        stop = threading.Event()

        def report_end(error: BaseException | None) -> None:
            if finished.done():
                return
            if error is None:
                finished.set_result(None)
            else:
                finished.set_exception(error)

        def work() -> None:
            error: BaseException | None = None
            try:
                self._read_lines(port, stop)
            except BaseException as exc:  # handed to the awaiting task, not swallowed
                error = exc
            if not loop.is_closed():
                loop.call_soon_threadsafe(report_end, error)

        thread = threading.Thread(target=work, name=f"serial {self.config.port}", daemon=True)
        thread.start()
        try:
            await finished
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)
            port.close()

    def _read_lines(self, port: Any, stop: threading.Event) -> None:
        """Split what arrives into lines and handle each until ``stop`` is set (in the reader thread)."""
        buffer = b""
        skipping = False  # inside an over-long line: drop bytes up to its end, count it once
        limit = self.config.max_line_bytes
        waiting_since: float | None = None  # when bytes began to wait for a line end
        poller = poller_of(port)
        while not stop.is_set():
            chunk = read_available(port, max(port.in_waiting, 1), poller, port.timeout)
            now = self.connections.clock.now()
            if not chunk:
                if buffer and waiting_since is not None:
                    self._check_line_end(len(buffer), now - waiting_since)
                continue
            buffer += chunk
            *lines, buffer = self._line_end.split(buffer)
            self.unended = len(buffer)
            if lines:
                waiting_since = now if buffer else None
            elif waiting_since is None:
                waiting_since = now
            if waiting_since is not None:
                self._check_line_end(len(buffer), now - waiting_since)
            if skipping and lines:
                lines.pop(0)
                skipping = False
            if not skipping:
                for line in lines:
                    if len(line) > limit:
                        self._reject("too_long", line, f"line longer than {limit} bytes")
                    else:
                        self.handle_line(line)
            if len(buffer) > limit:
                if not skipping:
                    self._reject("too_long", buffer, f"no line end within {limit} bytes")
                skipping = True
                keep = len(self._newline) - 1  # a line end may straddle two reads
                buffer = buffer[-keep:] if keep else b""

    def _check_line_end(self, waiting: int, seconds: float) -> None:
        """Warn once per port when bytes have waited no_line_warning_seconds for a line end."""
        c = self.config
        if self._warned_no_line or seconds < c.no_line_warning_seconds:
            return
        self._warned_no_line = True
        end = f"newline_regex {c.newline_regex!r}" if c.newline_regex else f"newline {c.newline!r}"
        log.warning(
            "serial %s: %d bytes arrived but no complete line for %.0f s; lines end with %s here: does the "
            "device end them otherwise (CR only: newline: \"\\r\")?", c.port, waiting, seconds, end,
        )

    def handle_line(self, raw: bytes) -> None:
        """Decode and match one line; hand a match to the sink, count anything else as rejected.

        Total over any bytes: a line that raises anywhere is a reject, and reading goes on.
        """
        try:
            self._handle_line(raw)
        except Exception as exc:  # a line no rule foresaw must not end the reader thread
            self._reject("unreadable", raw, type(exc).__name__)

    def _handle_line(self, raw: bytes) -> None:
        try:
            text = raw.decode(self.config.encoding).strip("\r\n")
        except UnicodeDecodeError as exc:
            self._reject("undecodable", raw, f"undecodable bytes ({exc.reason})")
            return
        if not text.strip():
            return  # blank lines (e.g. CR LF pairs split oddly) carry nothing
        match = self._pattern.search(text)
        if match is None:
            self._reject("no_match", raw, "line does not match the regex")
            return
        groups = match.groupdict()
        count_text = (groups.get("count") or "").strip()
        digits = count_text.lstrip("+-")
        if len(digits) > 19 and digits.isdigit():
            self._reject("out_of_range", raw, f"a {len(digits)}-digit count is beyond 64 bits")
            return
        value: Any
        try:
            value = int(count_text)
        except ValueError:
            value = count_text  # the collector refuses non-numbers with its own reason and metric
        ts = groups.get("ts") or self.connections.clock.now()
        event_id = groups.get("id") or None
        if event_id is not None:
            problem = text_problem(event_id)
            if problem is None and any(ord(c) < 32 or ord(c) == 127 for c in event_id):
                problem = "holds a control character"
            if problem is not None:
                self._reject("bad_id", raw, f"event id {problem}")
                return
        self.accepted += 1
        self.deliver(value, ts=ts, event_id=event_id)

    def _reject(self, reason: str, raw: bytes, why: str) -> None:
        so_far = sum(self.rejected.values()) + 1
        self.reject(reason, f"serial {self.config.port}: {raw[:64]!r}: {why} ({so_far} so far)")

    def describe(self) -> str:
        """Say which port and settings this source reads."""
        c = self.config
        return f"serial {c.port} {c.baud} {c.bytesize}{c.parity}{c.stopbits:g}"


DRIVER = Driver("serial", SerialSourceConfig, SerialLineSource)
