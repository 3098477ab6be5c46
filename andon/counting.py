"""The count normaliser: raw readings from a source become count events, or are rejected.

Cumulative counters: the first reading ever is a baseline; a wrap at the counter width is a
rollover; any other drop is a reset (adds nothing, recorded, new baseline). A forward jump above
``max_jump`` is rejected; if the next reading carries on from the jumped value, the jump was real
and the jumped value becomes the baseline (a reset is recorded). The last value is kept by the
caller and handed back after a restart: the first delta then is credited and flagged.

Readings and times are read by ``andon.payload`` (``whole_number``, ``instant``), the same rules and
reject reasons every driver uses; ``RejectedReading`` is that module's, named here for the engine's callers.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from hashlib import blake2b
from typing import Any

from andon.config.bases import SourceConfigBase
from andon.payload import RejectedReading, excerpt, instant, whole_number

# Flags on a count event, saying how far its actual can be trusted (a bitmask).
CREDITED_AFTER_OUTAGE = 1
MANUAL = 2
BUFFERED = 4
AFTER_RESET = 8
ROLLOVER = 16

FLAG_NAMES = {
    CREDITED_AFTER_OUTAGE: "credited_after_outage",
    MANUAL: "manual",
    BUFFERED: "buffered",
    AFTER_RESET: "after_reset",
    ROLLOVER: "rollover",
}
FLAG_BITS = {name: bit for bit, name in FLAG_NAMES.items()}

MAX_FUTURE_SECONDS = 300.0
MAX_AGE_SECONDS = 31 * 24 * 3600.0

# The dates and instants the shift calendar can hold: Python's datetime years 1 to 9999, a year
# short at each end so any timezone and a shift past midnight still fit. Outside them a date or
# time is refused with a reason, never a crash.
FIRST_DATE = date(2, 1, 1)
LAST_DATE = date(9998, 12, 31)
FIRST_INSTANT = datetime(2, 1, 1, tzinfo=UTC).timestamp()
LAST_INSTANT = datetime(9998, 12, 31, tzinfo=UTC).timestamp()


@dataclass
class CounterState:
    """What is remembered of a cumulative counter between readings and across restarts."""

    value: int | None = None
    pending: int | None = None
    restored: bool = False


@dataclass(frozen=True)
class Incident:
    """Something notable about a counter: baseline, reset, rollover, accepted jump, credit."""

    kind: str
    old_value: int | None
    new_value: int | None
    note: str = ""


@dataclass
class Outcome:
    """What one accepted reading produced: parts (0 or more) and any incidents."""

    count: int
    kind: str
    ts: float
    flags: int = 0
    incidents: list[Incident] = field(default_factory=list)


def parse_time(value: Any, received_at: float) -> float:
    """Turn an event time (epoch seconds or ISO 8601 with offset) into epoch seconds, checked."""
    if value is None:
        return received_at
    ts = parse_instant(value)
    if ts > received_at + MAX_FUTURE_SECONDS:
        raise RejectedReading("future_time", f"time {excerpt(value)} is {ts - received_at:.0f} s in the future")
    if ts < received_at - MAX_AGE_SECONDS:
        raise RejectedReading("too_old", f"time {excerpt(value)} is more than 31 days old")
    return ts


def parse_instant(value: Any) -> float:
    """Turn epoch seconds or an ISO 8601 time with offset into epoch seconds (within the calendar's years)."""
    ts = instant(value)
    if not FIRST_INSTANT <= ts <= LAST_INSTANT:
        raise RejectedReading(
            "bad_time", f"time {excerpt(value)} is outside {FIRST_DATE} to {LAST_DATE} (what a shift calendar holds)"
        )
    return ts


class Normaliser:
    """Turn one source's raw readings into counted parts, following its mode."""

    def __init__(self, config: SourceConfigBase, state: CounterState | None = None) -> None:
        self.config = config
        self.state = state or CounterState()
        self.modulus = 1 << config.bits
        self._last_edge: float | None = None
        self._ppc = config.parts_per_cycle

    def accept(self, value: Any, ts: float, kind: str | None = None, parts_per_cycle: int | None = None) -> Outcome:
        """Normalise one reading taken at ``ts`` (already checked); raise RejectedReading if bad.

        ``parts_per_cycle`` replaces the source's for this reading (the running product's).
        """
        self._ppc = parts_per_cycle or self.config.parts_per_cycle
        kind = kind or self.config.kind
        if kind not in ("good", "scrap"):
            raise RejectedReading("bad_kind", f"kind {kind!r} is neither good nor scrap")
        mode = self.config.mode
        if mode == "increment":
            n = whole_number(value)
            if n < 0:
                raise RejectedReading("negative", f"increment {n} is negative")
            if n > self.config.max_jump:
                raise RejectedReading("jump", f"increment {n} is above max_jump {self.config.max_jump}")
            return Outcome(n * self._ppc, kind, ts)
        if mode == "pulse":
            last = self._last_edge
            if last is not None and 0 <= ts - last < self.config.debounce_seconds:
                raise RejectedReading("bounce", f"edge {ts - last:.3f} s after the last one")
            self._last_edge = ts
            return Outcome(self._ppc, kind, ts)
        return self._cumulative(whole_number(value), ts, kind)

    def _unsigned(self, value: int) -> int:
        bits = self.config.bits
        if self.config.signed:
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            lo, hi = 0, (1 << bits) - 1
        if not lo <= value <= hi:
            raise RejectedReading(
                "out_of_range", f"counter value {value} is outside a {bits}-bit counter's range"
            )
        return value % self.modulus

    def _cumulative(self, raw: int, ts: float, kind: str) -> Outcome:
        value = self._unsigned(raw)
        state = self.state
        max_jump = self.config.max_jump
        ppc = self._ppc
        if state.value is None:
            state.value = value
            state.restored = False
            return Outcome(0, kind, ts, incidents=[Incident("baseline", None, value)])
        previous = state.value
        forward = (value - previous) % self.modulus
        if value >= previous and forward <= max_jump:
            return self._advance(value, forward, ts, kind, 0, [])
        if value < previous and forward <= max_jump:
            note = f"rollover at {self.config.bits} bits"
            return self._advance(value, forward, ts, kind, ROLLOVER, [Incident("rollover", previous, value, note)])
        pending = state.pending
        if pending is not None and (value - pending) % self.modulus <= max_jump and value >= pending:
            state.pending = None
            state.value = value
            incidents = [Incident("reset", previous, pending, f"jump to {pending} confirmed as new baseline")]
            return Outcome((value - pending) * ppc, kind, ts, AFTER_RESET, incidents)
        if value < previous:
            state.value = value
            state.pending = None
            return Outcome(0, kind, ts, AFTER_RESET, [Incident("reset", previous, value, "counter dropped")])
        state.pending = value
        raise RejectedReading("jump", f"counter jumped by {forward}, above max_jump {max_jump}")

    def _advance(
        self, value: int, forward: int, ts: float, kind: str, flags: int, incidents: list[Incident]
    ) -> Outcome:
        state = self.state
        state.value = value
        state.pending = None
        if state.restored and forward > 0:
            flags |= CREDITED_AFTER_OUTAGE
            incidents.append(Incident("credited", value - forward, value, "parts made while the collector was down"))
        if forward > 0:
            state.restored = False
        return Outcome(forward * self._ppc, kind, ts, flags, incidents)


class DigestTable:
    """A set of 64-bit digests (none below 2) in one flat array: 8 bytes a slot, open addressing, linear probing.

    A Python set of ints costs some 75 bytes an entry (a 40-byte int object and its share of the slots);
    this costs 16 to 32 (the array is kept at most half full). Slot value 0 is empty, 1 a removed entry.
    The digests are uniform, so their low bits are the slot. It grows into a doubled array, and the entries
    move over a few at each add (``MOVE_PER_ADD`` slots of the old array), not all at once: moving 131,072
    entries at once took 25 to 50 ms, a stall of every count of the plant, and the lines of a round-robin
    feed all grew within the same second. While they move, a lookup looks in both arrays. What is left of a
    growth is making the new array: some 2.5 ms for the 4 MiB of the last one (bench/engine.py).
    One thread at a time: ``SeenIds`` locks around it.
    """

    __slots__ = ("_filled", "_mask", "_moved", "_moving", "_moving_mask", "_slots", "_used")
    MIN_SLOTS = 128  # 1 KiB: a line that counts little holds little
    MOVE_PER_ADD = 8  # the old array (half the new one's size) is moved in its size / 8 adds: well before half full

    def __init__(self, slots: int = MIN_SLOTS) -> None:
        self._slots = array("Q", [0]) * slots
        self._mask = slots - 1
        self._used = 0  # entries, in either array
        self._filled = 0  # entries and removed entries of _slots: what the probing walks over
        self._moving: array[int] | None = None  # the array being moved out of since the last growth
        self._moving_mask = 0
        self._moved = 0  # its slots moved so far

    @staticmethod
    def _probe(slots: array[int], mask: int, key: int) -> int:
        """Return the slot of ``key`` in ``slots``, or of the empty slot ending its probe."""
        i = key & mask
        while True:
            found = slots[i]
            if found == key or found == 0:
                return i
            i = (i + 1) & mask

    def _find(self, key: int) -> int:
        return self._probe(self._slots, self._mask, key)

    def _find_moving(self, moving: array[int], key: int) -> int:
        return self._probe(moving, self._moving_mask, key)

    def __contains__(self, key: int) -> bool:
        slots, mask = self._slots, self._mask
        i = key & mask
        while True:  # _find, inlined: this is on every count's way
            found = slots[i]
            if found == key:
                return True
            if found == 0:
                break
            i = (i + 1) & mask
        moving = self._moving
        return moving is not None and moving[self._find_moving(moving, key)] == key

    def add(self, key: int) -> bool:
        """Add ``key``; return False when it was there already."""
        slots = self._slots
        i = self._find(key)
        if slots[i] == key:
            return False
        moving = self._moving
        if moving is not None and moving[self._find_moving(moving, key)] == key:
            return False
        slots[i] = key
        self._used += 1
        self._filled += 1
        if moving is not None:
            self._move(self.MOVE_PER_ADD)
        if 2 * self._filled > len(self._slots):
            self._grow()
        return True

    def discard(self, key: int) -> None:
        """Remove ``key`` if it is there (a moved entry is in both arrays: it goes from both)."""
        i = self._find(key)
        found = self._slots[i] == key
        if found:
            self._slots[i] = 1
        moving = self._moving
        if moving is not None:
            j = self._find_moving(moving, key)
            if moving[j] == key:
                moving[j] = 1
                found = True
        if found:
            self._used -= 1

    def __len__(self) -> int:
        return self._used

    def _grow(self) -> None:
        if self._moving is not None:  # grown again before the last move ended (removals only): end it first
            self._move(len(self._moving))
        size = self.MIN_SLOTS
        while size <= 2 * self._used:  # a quarter full after a growth, grown again at half
            size *= 2
        self._moving, self._moving_mask, self._moved = self._slots, self._mask, 0
        self._slots = array("Q", [0]) * size
        self._mask = size - 1
        self._filled = 0

    def _move(self, count: int) -> None:
        """Move the next ``count`` slots' entries of the old array into the new one."""
        moving = self._moving
        assert moving is not None
        slots, mask = self._slots, self._mask
        start = self._moved
        end = min(start + count, len(moving))
        for p in range(start, end):
            key = moving[p]
            if key > 1:  # never in the new array already: add looks in both first
                i = key & mask
                while slots[i]:
                    i = (i + 1) & mask
                slots[i] = key
                self._filled += 1
        self._moved = end
        if end == len(moving):
            self._moving = None


class SeenIds:
    """Event ids already counted, bounded: at least the ``capacity`` latest are remembered, at most twice that.

    Kept as 64-bit BLAKE2b digests in two generations of ``DigestTable`` (the older dropped whole when the
    newer fills): 16 to 32 bytes an id against some 75 in a set of ints, or 180 for the text in an ordered
    dict, which a busy line's 200,000 ids a day would make tens of megabytes. Two different ids share a
    digest with a chance of about 1 in 10^13 per count with a full memory (4 x 10^5 digests over 2^64);
    the database's unique index on (line, id) stays the backstop for copies.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._new = DigestTable()
        self._old = DigestTable()
        # Intake adds under the plant's intake lock; the writer removes the id of an event the database refused
        # without it (intake may be waiting on the writer). A table's own steps are not atomic: without this
        # lock a removal racing an add (or a growth's move) could be undone, and the event's redelivery dropped
        # as a copy of itself.
        self._lock = threading.Lock()

    @staticmethod
    def digest(event_id: str) -> int:
        """Return the id's digest, which every method also takes in place of the id (one digest a count)."""
        key = int.from_bytes(blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        return key if key > 1 else key + 2  # 0 and 1 mark empty and removed slots

    def add(self, event_id: str | int) -> bool:
        """Remember an id (or its digest); return False when it was already seen."""
        key = event_id if isinstance(event_id, int) else self.digest(event_id)
        with self._lock:
            if key in self._old or not self._new.add(key):
                return False
            if len(self._new) >= self.capacity:
                self._old, self._new = self._new, DigestTable()
            return True

    def discard(self, event_id: str | int) -> None:
        """Forget an id or its digest (its event was never stored)."""
        key = event_id if isinstance(event_id, int) else self.digest(event_id)
        with self._lock:
            self._new.discard(key)
            self._old.discard(key)

    def __contains__(self, event_id: object) -> bool:
        if isinstance(event_id, str):
            key = self.digest(event_id)
        elif isinstance(event_id, int) and not isinstance(event_id, bool):
            key = event_id
        else:
            return False
        with self._lock:
            return key in self._new or key in self._old

    def __len__(self) -> int:
        with self._lock:
            return len(self._new) + len(self._old)


def as_boolean(value: Any) -> bool:
    """Read a run signal: true/false, a number (non-zero: running) or on/off text; refuse anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value == value:
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "on", "run", "running"):
            return True
        if text in ("0", "false", "off", "stop", "stopped"):
            return False
    raise RejectedReading("not_boolean", f"a run signal reads true or false, not {str(value)[:40]!r}")


def fault_reason(codes: dict[int, str], value: Any) -> str | None:
    """Map a PLC fault value to a reason code: 0 is no fault; an unmapped value is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value != int(value):
        raise RejectedReading("bad_fault_code", f"a fault code is a whole number, not {str(value)[:40]!r}")
    number = int(value)
    if number == 0:
        return None
    if number not in codes:
        raise RejectedReading("unmapped_fault_code", f"fault code {number} is not in fault_codes")
    return codes[number]
