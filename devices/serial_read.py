"""Reading a serial port without pyserial's select().

pyserial's ``read`` waits in ``select()``, which fails (ValueError) for a descriptor past 1023. ``andon run`` raises
its open-file limit for its connections, so a port opened or reopened on a busy server can get such a descriptor.
This read waits with ``poll()`` and reads the descriptor itself (the serial count source's reader thread).
"""

from __future__ import annotations

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
