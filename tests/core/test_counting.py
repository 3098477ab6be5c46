"""The count normaliser: modes, rollover, resets, jumps, bad readings; hypothesis properties."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.counting import (
    AFTER_RESET,
    CREDITED_AFTER_OUTAGE,
    ROLLOVER,
    CounterState,
    DigestTable,
    Normaliser,
    RejectedReading,
    SeenIds,
    parse_time,
)
from devices.sources.http import HttpSourceConfig


def source(**kw: Any) -> HttpSourceConfig:
    return HttpSourceConfig(type="http", **kw)


def run(normaliser: Normaliser, values: list[Any]) -> list[int | str]:
    """Feed values; return each reading's count, or the rejection reason."""
    out: list[int | str] = []
    for i, v in enumerate(values):
        try:
            out.append(normaliser.accept(v, float(i)).count)
        except RejectedReading as exc:
            out.append(exc.reason)
    return out


CUMULATIVE_CASES = [
    # bits, signed, max_jump, readings, counts per reading
    (32, False, 10_000, [100, 101, 105, 105, 110], [0, 1, 4, 0, 5]),
    (16, False, 10_000, [65530, 65535, 0, 3], [0, 5, 1, 3]),
    (16, False, 10_000, [65534, 2], [0, 4]),
    (16, True, 10_000, [32766, 32767, -32768, -32766], [0, 1, 1, 2]),
    (32, False, 10_000, [4294967290, 5], [0, 11]),
    (32, True, 10_000, [2147483647, -2147483648], [0, 1]),
    # Drop that is not a wrap: reset, adds nothing, new baseline.
    (32, False, 10_000, [500, 510, 0, 4], [0, 10, 0, 4]),
    (16, False, 100, [5000, 20, 25], [0, 0, 5]),
    # Jump above max_jump: rejected; a glitch returns to the old track and is forgotten.
    (32, False, 1000, [100, 999_999, 102], [0, "jump", 2]),
    # A real jump (the next reading carries on from it) becomes the new baseline.
    (32, False, 1000, [100, 50_000, 50_003, 50_004], [0, "jump", 3, 1]),
    # Bad readings.
    (
        16,
        False,
        10_000,
        [10, "abc", 11, 70_000, -1, 12.5, 13],
        [0, "not_a_number", 1, "out_of_range", "out_of_range", "not_whole", 2],
    ),
    (32, False, 10_000, [" 7 ", b"9", float("nan"), 9.0], [0, 2, "not_a_number", 0]),
]


@pytest.mark.parametrize(("bits", "signed", "max_jump", "values", "expected"), CUMULATIVE_CASES)
def test_cumulative_counter(bits: int, signed: bool, max_jump: int, values: list[Any], expected: list[Any]) -> None:
    n = Normaliser(source(mode="cumulative", bits=bits, signed=signed, max_jump=max_jump))
    assert run(n, values) == expected


def test_rollover_and_reset_are_flagged_and_recorded() -> None:
    n = Normaliser(source(mode="cumulative", bits=16))
    assert n.accept(65535, 0).incidents[0].kind == "baseline"
    wrap = n.accept(1, 1)
    assert (wrap.count, wrap.flags, wrap.incidents[0].kind) == (2, ROLLOVER, "rollover")
    reset = n.accept(0, 2)  # 1 -> 0 is a drop of one, not a wrap of 65535
    assert (reset.count, reset.flags, reset.incidents[0].kind) == (0, AFTER_RESET, "reset")
    assert (reset.incidents[0].old_value, reset.incidents[0].new_value) == (1, 0)


def test_parts_per_cycle_multiplies_every_mode() -> None:
    assert run(Normaliser(source(mode="cumulative", parts_per_cycle=4)), [10, 12]) == [0, 8]
    assert run(Normaliser(source(mode="increment", parts_per_cycle=3)), [1, 2, 0]) == [3, 6, 0]
    assert run(Normaliser(source(mode="pulse", parts_per_cycle=2)), [1, 1]) == [2, 2]


def test_increment_rejects_negative_and_absurd() -> None:
    n = Normaliser(source(mode="increment", max_jump=50))
    assert run(n, [1, -1, 51, 50, "2", True]) == [1, "negative", "jump", 50, 2, 1]


def test_pulse_debounce_uses_event_times() -> None:
    n = Normaliser(source(mode="pulse", debounce_seconds=0.05))
    counts = []
    for t in [0.0, 0.01, 0.049, 0.05, 0.2, 0.21]:
        try:
            counts.append(n.accept(1, t).count)
        except RejectedReading as exc:
            counts.append(exc.reason)  # type: ignore[arg-type]
    assert counts == [1, "bounce", "bounce", 1, 1, "bounce"]


def test_restart_credits_parts_made_while_down_and_flags_them() -> None:
    restored = Normaliser(source(mode="cumulative"), CounterState(value=1000, restored=True))
    unchanged = restored.accept(1000, 0)
    assert (unchanged.count, unchanged.flags) == (0, 0)
    credited = restored.accept(1042, 1)
    assert (credited.count, credited.flags) == (42, CREDITED_AFTER_OUTAGE)
    assert credited.incidents[0].kind == "credited"
    after = restored.accept(1043, 2)
    assert (after.count, after.flags) == (1, 0)


def test_kind_override_and_bad_kind() -> None:
    n = Normaliser(source(mode="increment"))
    assert n.accept(1, 0, "scrap").kind == "scrap"
    assert n.accept(1, 0).kind == "good"
    with pytest.raises(RejectedReading) as err:
        n.accept(1, 0, "bogus")
    assert err.value.reason == "bad_kind"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 1_000_000.0),
        (999_999.5, 999_999.5),
        ("999999.5", 999_999.5),
        ("1970-01-12T13:46:40+00:00", 1_000_000.0),
        ("1970-01-12T14:46:40+01:00", 1_000_000.0),
        ("1970-01-12T13:46:40Z", 1_000_000.0),
        ("1970-01-12T13:46:40", "bad_time"),
        ("yesterday", "bad_time"),
        (1_000_000 + 301, "future_time"),
        (1_000_000 + 299, 1_000_299.0),
        (1_000_000 - 32 * 86400, "too_old"),
    ],
)
def test_event_times(raw: Any, expected: Any) -> None:
    try:
        got: Any = parse_time(raw, 1_000_000.0)
    except RejectedReading as exc:
        got = exc.reason
    assert got == expected


def test_seen_ids_keep_at_least_the_latest_capacity_and_forget_the_oldest() -> None:
    seen = SeenIds(capacity=3)
    assert [seen.add(i) for i in "abca"] == [True, True, True, False]
    for i, event_id in enumerate("defghij"):
        assert seen.add(event_id)
        latest = "abcdefghij"[max(0, i + 4 - 3):i + 4]
        assert all(x in seen for x in latest), (event_id, latest)
        assert 3 <= len(seen) <= 6
    assert "a" not in seen and "d" not in seen and len(seen) == 4  # two generations later
    seen.discard("j")
    assert "j" not in seen and seen.add("j")
    assert 7 not in seen and None not in seen  # never seen
    key = seen.digest("k")  # the digest stands for the id in every method
    assert key not in seen and seen.add(key) and "k" in seen and key in seen and not seen.add("k")
    seen.discard(key)
    assert "k" not in seen


def test_seen_ids_tell_apart_ids_that_differ_in_one_character() -> None:
    ids = [f"L01-{n}" for n in range(50_000)] + [f"L01-{n} " for n in range(50_000)] + ["", "é", "e"]
    tracemalloc.start()
    seen = SeenIds()
    assert all(seen.add(i) for i in ids)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held < 24 * len(ids)  # 262,144 slots of 8 bytes: 21 bytes an id (in a set of ints: ~75)
    assert len(seen) == len(ids)
    assert not any(seen.add(i) for i in ids)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["add", "discard", "has"]), st.integers(2, 2**64 - 1)
                              | st.sampled_from([2, 3, 1024, 2048, 2**64 - 1024])), max_size=3000))
def test_the_digest_table_is_a_set(ops: list[tuple[str, int]]) -> None:
    """Adds, removals and lookups, colliding slots included (keys equal modulo the size): as a Python set."""
    table, model = DigestTable(), set()
    for op, key in ops:
        if op == "add":
            assert table.add(key) == (key not in model)
            model.add(key)
        elif op == "discard":
            table.discard(key)
            model.discard(key)
        else:
            assert (key in table) == (key in model)
        assert len(table) == len(model)
    assert all(key in table for key in model)


def test_the_digest_table_moves_its_entries_a_few_at_each_add_after_a_growth() -> None:
    """No add moves more than MOVE_PER_ADD old slots; meanwhile lookups, removals and re-adds see both arrays."""
    table = DigestTable()
    keys = [2 + 7919 * n for n in range(100_000)]
    most = 0
    for n, key in enumerate(keys):
        moving_before, moved_before = table._moving, table._moved
        assert table.add(key)
        if moving_before is not None:
            moved = (len(moving_before) if table._moving is not moving_before else table._moved) - moved_before
            most = max(most, moved)
        if n == 40_000:
            assert table._moving is not None and 0 < table._moved < len(table._moving)  # in the middle of a move
            moved_key, waiting_key = table._moving[: table._moved], table._moving[table._moved:]
            old = next(k for k in moved_key if k > 1)
            waiting = next(k for k in waiting_key if k > 1)
            table.discard(old)
            table.discard(waiting)
            assert old not in table and waiting not in table and len(table) == n - 1
            assert table.add(old) and table.add(waiting) and not table.add(old) and len(table) == n + 1
    assert most == DigestTable.MOVE_PER_ADD
    assert table._moving is None and len(table._slots) == 262_144
    assert all(k in table for k in keys) and len(table) == len(keys)
    assert not any(table.add(k) for k in keys)


def test_removals_from_another_thread_are_never_undone_by_adds() -> None:
    """The writer forgets the id of a refused event while intake adds others: the id must end up unseen.

    The GIL switches every microsecond here, so unlocked table steps interleave (without the lock in SeenIds,
    most runs leave removed ids seen: their redeliveries would be dropped as copies).
    """
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(3):
            seen = SeenIds()
            gone = [2 + 2 * k for k in range(20_000)]
            fresh = [3 + 2 * k for k in range(150_000)]  # grows the table, so moves run during the removals
            for key in gone:
                seen.add(key)
            adder = threading.Thread(target=lambda ids, keys: [ids.add(k) for k in keys], args=(seen, fresh))
            remover = threading.Thread(target=lambda ids, keys: [ids.discard(k) for k in keys], args=(seen, gone))
            adder.start()
            remover.start()
            adder.join()
            remover.join()
            assert sum(k in seen for k in gone) == 0
            assert all(k in seen for k in fresh) and len(seen) == len(fresh)
    finally:
        sys.setswitchinterval(switch)


def test_the_digest_table_grows_and_keeps_every_key_through_removals() -> None:
    table = DigestTable()
    keys = [2 + 1024 * n for n in range(5000)]  # all in one slot of the first array: the longest probes
    assert all(table.add(k) for k in keys)
    for k in keys[::2]:
        table.discard(k)
    assert [k in table for k in keys[:6]] == [False, True, False, True, False, True]
    assert len(table) == 2500
    assert all(table.add(k) for k in keys[::2]) and not any(table.add(k) for k in keys)
    assert len(table) == 5000


@settings(max_examples=300, deadline=None)
@given(
    bits=st.sampled_from([16, 32]),
    start=st.integers(0, 2**16 - 1),
    steps=st.lists(st.integers(0, 500), min_size=1, max_size=60),
)
def test_cumulative_counts_equal_true_production_across_rollovers(bits: int, start: int, steps: list[int]) -> None:
    """Whatever the wraps, counted parts equal the parts the machine made."""
    n = Normaliser(source(mode="cumulative", bits=bits, max_jump=1000))
    value = start
    n.accept(value, 0)
    total = 0
    for i, step in enumerate(steps, 1):
        value = (value + step) % (1 << bits)
        total += n.accept(value, float(i)).count
    assert total == sum(steps)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 20), st.text(max_size=3), st.floats(allow_nan=True)), max_size=40))
def test_increments_count_exactly_the_good_readings(values: list[Any]) -> None:
    """Garbage never crashes the normaliser and never changes what good readings add."""
    n = Normaliser(source(mode="increment"))
    total = 0
    expected = 0
    for v in values:
        with contextlib.suppress(RejectedReading):
            total += n.accept(v, 0.0).count
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and 0 <= f <= 10_000 and f == int(f):
            expected += int(f)
    assert total == expected
