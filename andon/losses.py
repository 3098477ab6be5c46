"""Stop detection, pure: stops from good-count times and run-signal changes, merged and cut into pieces.

A stop is a period in shift with no good count for at least the stop time (measured in available
time, as the line condition measures it), from the last good count (or the shift start) to the next
one (or the shift end); or a period in which a run signal is false. Periods that overlap are one
stop; a stop is cut at split points (a person's split, a changeover overrun's bounds).
Everything here takes event times and returns spans: no clock, no I/O.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence

Span = tuple[float, float]
OpenSpan = tuple[float, float | None]  # end None: still open at "now"
Available = Callable[[float, float], float]  # available seconds in [t0, t1)


def count_stops(
    times: Iterable[float], start: float, end: float, now: float, available: Available, stop_after: float | None,
) -> list[OpenSpan]:
    """Return the stops of a shift found from its good-count times, as seen at ``now`` (the reference rule)."""
    if stop_after is None:
        return []
    out: list[OpenSpan] = []
    previous = start
    for t in sorted(t for t in times if start <= t < end and t <= now):
        if t > previous and available(previous, t) >= stop_after:
            out.append((previous, t))
        previous = max(previous, t)
    tail = min(now, end)
    if tail > previous and available(previous, tail) >= stop_after:
        out.append((previous, end) if now >= end else (previous, None))
    return out


class CountStops:
    """The count stops of one shift, kept up to date one good count at a time (O(1) for counts in order)."""

    def __init__(
        self, start: float, end: float, available: Available, stop_after: float | None, times: Iterable[float] = (),
    ) -> None:
        self.start = start
        self.end = end
        self.available = available
        self.stop_after = stop_after
        self.times = array("d", sorted(t for t in times if start <= t < end))
        self.closed: list[Span] = []
        self.rebuild()

    def rebuild(self) -> None:
        """Find the closed stops between counts again (after the plan or the stop time changed)."""
        self.closed = []
        previous = self.start
        for t in self.times:
            if self._is_stop(previous, t):
                self.closed.append((previous, t))
            previous = t

    def _is_stop(self, t0: float, t1: float) -> bool:
        # Available time never exceeds wall time: most gaps are refused without computing it.
        limit = self.stop_after
        return limit is not None and t1 - t0 >= limit and self.available(t0, t1) >= limit

    def count(self, ts: float) -> bool:
        """Take a good count at ``ts``; return whether the stops changed."""
        if not self.start <= ts < self.end:
            return False
        times = self.times
        if not times or ts >= times[-1]:
            previous = times[-1] if times else self.start
            times.append(ts)
            if self._is_stop(previous, ts):
                self.closed.append((previous, ts))
                return True
            return False
        bisect.insort(times, ts)  # a late count (edge buffer): it can only cut a stop in two
        index = bisect.bisect_right(self.closed, (ts, float("inf"))) - 1
        if index < 0:
            return False
        s, e = self.closed[index]
        if not s < ts < e:
            return False
        self.closed[index:index + 1] = [p for p in ((s, ts), (ts, e)) if self._is_stop(*p)]
        return True

    def withdraw(self, ts: float) -> None:
        """Forget one good count at ``ts`` (a count the database refused)."""
        index = bisect.bisect_left(self.times, ts)
        if index < len(self.times) and self.times[index] == ts:
            del self.times[index]
            self.rebuild()

    @property
    def last(self) -> float:
        """Return the time the current gap began: the last good count, else the shift start."""
        return self.times[-1] if self.times else self.start

    def stops(self, now: float) -> list[OpenSpan]:
        """Return the stops as seen at ``now``: the closed ones and the open (or shift-end) one."""
        out: list[OpenSpan] = [s for s in self.closed if s[1] <= now]
        last = self.last
        tail = min(now, self.end)
        if tail > last and self._is_stop(last, tail):
            out.append((last, self.end) if now >= self.end else (last, None))
        return out


def signal_stops(
    initial: Mapping[str, bool], changes: Sequence[tuple[float, str, bool]], start: float, end: float, now: float,
) -> list[OpenSpan]:
    """Return the periods in [start, end) when any run signal was false, as seen at ``now``.

    ``initial`` is each signal's value at ``start``; ``changes`` are (time, signal, running), oldest first.
    """
    running = dict(initial)
    out: list[OpenSpan] = []
    since: float | None = start if not all(running.values()) else None
    tail = min(now, end)
    for ts, signal, value in changes:
        if ts > tail:
            break
        running[signal] = value
        stopped = not all(running.values())
        t = max(ts, start)
        if stopped and since is None:
            since = t
        elif not stopped and since is not None:
            if t > since:
                out.append((since, t))
            since = None
    if since is not None and now < end:
        out.append((since, None))  # open from the moment the signal went false
    elif since is not None and end > since:
        out.append((since, end))
    return out


def merge_stops(*groups: Iterable[OpenSpan]) -> list[OpenSpan]:
    """Return the union of stop periods: periods that overlap are one stop (a count between two ends both)."""
    inf = float("inf")
    spans = sorted((s, inf if e is None else e) for group in groups for s, e in group)
    merged: list[list[float]] = []
    for s, e in spans:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, None if e == inf else e) for s, e in merged]


def cut_stops(stops: Iterable[OpenSpan], points: Iterable[float]) -> list[OpenSpan]:
    """Cut stops at the given times (each point strictly inside a stop makes two pieces)."""
    ordered = sorted(set(points))
    out: list[OpenSpan] = []
    for s, e in stops:
        inside = [p for p in ordered[bisect.bisect_right(ordered, s):] if e is None or p < e]
        edges: list[float | None] = [s, *inside, e]
        out.extend((float(a), b) for a, b in zip(edges, edges[1:], strict=False) if a is not None)
    return out


def drop_empty(stops: Iterable[OpenSpan], available: Available) -> list[OpenSpan]:
    """Drop closed stops with no available seconds (a signal false only during a break)."""
    return [(s, e) for s, e in stops if e is None or available(s, e) > 0]


def stop_pieces(
    counted: Iterable[OpenSpan], signalled: Iterable[OpenSpan], points: Iterable[float], available: Available,
) -> list[OpenSpan]:
    """Return the stop pieces of a shift: count and signal stops merged, cut at the points, empty ones dropped."""
    return drop_empty(cut_stops(merge_stops(counted, signalled), points), available)
