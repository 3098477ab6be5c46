"""Reading and writing a serial port without pyserial's select().

pyserial's ``read`` and ``write`` wait in ``select()``, which fails (ValueError) for a descriptor past 1023.
``andon run`` raises its open-file limit for its connections, so a port opened or reopened on a busy server can
get such a descriptor.
These wait with ``poll()`` and read or write the descriptor itself (the serial count source's reader thread, the
serial andon button on the event loop).
"""

from __future__ import annotations

import contextlib
import os
import select
from typing import Any


def poller_of(port: Any) -> Any:
    """Return a poll object watching an open pyserial port for input, errors and hang-ups."""
    poller = select.poll()
    poller.register(port.fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return poller


def read_available(port: Any, size: int, poller: Any, timeout: float) -> bytes:
    """Return up to ``size`` bytes the port holds, waiting up to ``timeout`` seconds with ``poller`` (b"": none).

    A port that polls readable but returns nothing is gone: raised as pyserial raises it.
    """
    import serial

    if not poller.poll(int(timeout * 1000)):
        return b""
    try:
        data = os.read(port.fd, size)
    except BlockingIOError:
        return b""
    if not data:
        raise serial.SerialException("device reports readiness to read but returned no data "
                                     "(device disconnected or multiple access on port?)")
    return data


def write_all(port: Any, data: bytes, timeout: float = 2.0) -> None:
    """Write ``data`` to the port, waiting with ``poll()`` while its buffer is full (SerialTimeoutException after
    ``timeout`` seconds without room: a port that takes nothing is treated as lost)."""
    import serial

    poller = select.poll()
    poller.register(port.fd, select.POLLOUT)
    view = memoryview(data)
    while view:
        with contextlib.suppress(BlockingIOError):
            view = view[os.write(port.fd, view):]
        if view and not poller.poll(int(timeout * 1000)):
            raise serial.SerialTimeoutException(f"no room to write for {timeout} s")
