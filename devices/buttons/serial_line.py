"""Andon buttons behind a serial line (a small microcontroller box at the station).

Line protocol, one command per line (LF or CRLF), case-insensitive keyword:
``RAISE [station [category]]``, ``ACK``/``ACKNOWLEDGE [station [category]]``,
``RESOLVE [station [category]]``; a missing station or category is the configured one.
The box gets one answer line per command: ``OK RAISE st3 quality`` or ``ERR <reason>``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

from pydantic import Field

from andon.config.bases import ButtonConfigBase
from andon.extras import PYSERIAL
from devices.andon_button import AndonActions, AndonButton
from devices.catalog import Driver
from devices.connections import Connections
from devices.serial_read import poller_of, read_available, write_all

MAX_LINE = 256
MAX_NAME = 64  # the longest station or category the API takes
_KEYWORDS = {"RAISE": "raise", "ACK": "acknowledge", "ACKNOWLEDGE": "acknowledge", "RESOLVE": "resolve"}


class SerialButtonConfig(ButtonConfigBase):
    """A serial port carrying andon commands, one per line."""

    type: Literal["serial"] = "serial"
    port: str = Field(description="Serial device, e.g. /dev/ttyUSB0.")
    baudrate: int = Field(
        default=9600, gt=0, description="Baud rate of the port.", json_schema_extra={"unit": "bit/s"}
    )
    station: str | None = Field(default=None, description="Station when a line names none.")
    category: str | None = Field(default=None, description="Category when a line names none.")
    reply: bool = Field(default=True, description="Answer each line with OK ... or ERR ....")
    reopen_seconds: float = Field(default=2.0, gt=0, description="Wait before reopening a lost port.")


def parse_command(line: str, config: SerialButtonConfig) -> tuple[str, str, str]:
    """Return (action, station, category) from one line, or raise ValueError saying why."""
    words = line.split()
    if not words:
        raise ValueError("empty line")
    action = _KEYWORDS.get(words[0].upper())
    if action is None:
        raise ValueError(f"unknown command {words[0][:20]!r}; expected RAISE, ACK or RESOLVE")
    if len(words) > 3:
        raise ValueError(f"too many words in {line[:60]!r}; expected COMMAND [station [category]]")
    station = words[1] if len(words) > 1 else config.station
    category = words[2] if len(words) > 2 else config.category
    if station is None:
        raise ValueError("no station given and none configured")
    if category is None:
        raise ValueError("no category given and none configured")
    if len(station) > MAX_NAME or len(category) > MAX_NAME:
        raise ValueError(f"station and category take at most {MAX_NAME} characters")
    return action, station, category


class SerialAndonButton(AndonButton):
    """Read command lines from the port without threads (the event loop watches its descriptor)."""

    libraries = (PYSERIAL,)

    config: SerialButtonConfig

    def __init__(self, config: SerialButtonConfig, line: str, actions: AndonActions, connections: Connections) -> None:
        super().__init__(config, line, actions, connections)
        self._buffer = b""
        self.port_open = threading.Event()

    def describe(self) -> str:
        """Say which port this is."""
        return self.config.id or f"serial {self.config.port}"

    def handle_line(self, raw: bytes) -> str:
        """Perform one command line; return the answer line (without line end). Total over any bytes."""
        try:
            text = raw.decode("ascii").strip()
            if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in text):
                raise UnicodeDecodeError("ascii", raw, 0, len(raw), "control character")
            action, station, category = parse_command(text, self.config)
        except (UnicodeDecodeError, ValueError) as exc:
            kind, reason = ("not_text", "not printable ASCII") if isinstance(exc, UnicodeDecodeError) else (
                "bad_command", str(exc))
            self.reject(kind, f"line {raw[:60]!r}: {reason}")
            return f"ERR {reason}"
        except Exception as exc:  # a line no rule foresaw is still answered, never fatal
            self.reject("unreadable", f"line {raw[:60]!r}: {type(exc).__name__}")
            return "ERR unreadable line"
        self.faults.ok()
        word = {"raise": "RAISE", "acknowledge": "ACK", "resolve": "RESOLVE"}[action]
        done = self.perform(action, station, category)
        return f"OK {word} {station} {category}" if done else f"ERR {word} {station} {category} refused"

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete lines (an overlong line is cut and rejected)."""
        self._buffer += data
        lines = []
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            lines.append(line)
        if len(self._buffer) > MAX_LINE:
            lines.append(self._buffer)
            self._buffer = b""
        return lines

    async def run(self) -> None:
        """Read lines until cancelled; reopen the port after it is lost."""
        import serial

        while True:
            try:
                port = serial.Serial(self.config.port, self.config.baudrate, timeout=0)
            except (serial.SerialException, OSError) as exc:
                self.faults.fault(f"cannot open {self.config.port}: {exc}")
                await self.clock.sleep(self.config.reopen_seconds)
                continue
            self.faults.ok()
            self.port_open.set()
            try:
                await self._serve(port)
            except (serial.SerialException, OSError) as exc:
                self.faults.fault(f"{self.config.port} lost: {exc}")
            finally:
                self.port_open.clear()
                port.close()
            await self.clock.sleep(self.config.reopen_seconds)

    async def _serve(self, port: Any) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(port.fileno(), readable.set)
        poller = poller_of(port)  # the loop's wake-up can come with nothing to read: asked again, as pyserial does
        try:
            while True:
                await readable.wait()
                readable.clear()
                data = read_available(port, 4096, poller, 0.0)
                if not data:
                    continue
                for line in self.feed(data):
                    if len(line) > MAX_LINE:
                        answer = f"ERR line longer than {MAX_LINE} bytes"
                        self.reject("too_long", f"line of {len(line)}+ bytes")
                    else:
                        answer = await asyncio.to_thread(self.handle_line, line)
                    if self.config.reply:
                        write_all(port, answer.encode("ascii", "replace") + b"\r\n")
        finally:
            loop.remove_reader(port.fileno())


DRIVER = Driver("serial", SerialButtonConfig, SerialAndonButton)
