"""Work put off to the end of the event-loop callback that caused it: one pass of the loop, not three.

A count read from a broker's socket sets going its line's state, and the state's publish a write back to the
broker. As callbacks of their own (``call_soon``) each took a pass of the loop (a system call to poll the
sockets, the loop's own bookkeeping); run at the end of the read's callback, a count costs one wake-up.
Whoever runs such a callback (the MQTT link's reader) opens a pass with ``begin``, and ``end`` runs what was
put off in it, in order, work put off by that work included. Outside a pass ``defer`` says no, and the caller
schedules the work as before. Per thread; a pass inside a pass joins the outer one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class _Pass(threading.local):
    due: list[Callable[[], None]] | None = None


_pass = _Pass()


def begin() -> bool:
    """Open a pass on this thread; return False when one is open already (its opener ends it)."""
    if _pass.due is not None:
        return False
    _pass.due = []
    return True


def end() -> None:
    """Run what was put off in this thread's pass, in order (and what that puts off), then close it."""
    due = _pass.due
    try:
        i = 0
        while due is not None and i < len(due):
            try:
                due[i]()
            except Exception:
                log.exception("work put off to the end of a pass of the event loop failed")
            i += 1
    finally:
        _pass.due = None


def defer(fn: Callable[[], None]) -> bool:
    """Run ``fn`` at the end of this thread's open pass; return False (nothing done) when none is open."""
    due = _pass.due
    if due is None:
        return False
    due.append(fn)
    return True
