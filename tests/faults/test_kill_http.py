"""A 2xx to an HTTP count means it is committed: `andon run` killed with SIGKILL right after a 201, or in the
middle of a stream of posting clients that retry until they get a 2xx, loses and doubles nothing."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

from tests.faults.conftest import Runs, fault_config, post, stored_ids, wait_for


def test_a_201_survives_kill_9_at_once(tmp_path: Path, runs: Runs) -> None:
    db = tmp_path / "andon.db"
    config = fault_config(tmp_path, db)
    server = runs.start(config)
    for i in range(5):
        assert post(server, f"k{i}", count=3) == 201
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)  # no clean-up runs: only what was committed is there
        server.proc.wait(10)
        server.proc = None
        assert stored_ids(db) == [f"k{j}" for j in range(i + 1)]
        server.start()
    assert server.state()["actual_to_date"] == 15


def test_http_stream_through_kill_9_counts_each_once(tmp_path: Path, runs: Runs) -> None:
    db = tmp_path / "andon.db"
    server = runs.start(fault_config(tmp_path, db))
    total, clients = 300, 3
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def sender(k: int) -> None:
        # A device that keeps a count until it gets a 2xx, as an edge does: retries reuse the id.
        for i in range(k, total, clients):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                code = post(server, f"s{i}")
                with lock:
                    answers[code] += 1
                if code in (200, 201):
                    break
                time.sleep(0.05)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    try:
        for when in (60, 180):
            wait_for(lambda when=when: len(stored_ids(db)) >= when, timeout=60)  # type: ignore[misc]
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(10)
            server.proc = None
            time.sleep(0.3)  # the senders meet a dead port and retry
            server.start()
    finally:
        for thread in threads:
            thread.join(120)
    ids = stored_ids(db)
    assert sorted(ids) == sorted(f"s{i}" for i in range(total))  # every count once: none lost, none doubled
    assert server.state()["actual_to_date"] == total
    assert answers[0] > 0  # the kills really cut senders off mid-stream
