"""Ingest benchmark: counts through a real Mosquitto into `andon run` and out as published line state.

Measures, on the same machine in the same run, against the floor of a bare paho subscriber that
receives the same stream from the same broker:
- sustained events/s with no loss (the final published states must add up exactly);
- publish-to-state latency p50/p99 at 1,000 events/s across 50 lines (the publisher stamps each
  event's send time; an event's latency ends when the first state carrying its count arrives).
Durability is not relaxed: `andon run` acknowledges QoS 1 only after the SQLite commit.

Run: python bench/ingest.py [--events 20000] [--rate 1000] [--seconds 5] [--lines 50]
Targets: engine rate >= half the bare-subscriber rate; engine p99 < 25 ms.

Side by side with a Node-RED flow and a bare subscriber (10 lines; the harness installs Node-RED with npm):
    python bench/ingest.py --three-way PATH/TO/three-way --mode full --runs 3 [--one-core]
prints each run's table and the median of every andon / Node-RED ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from demo_plant import free_port, healthy

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``predicate`` holds or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start Mosquitto with persistence and no queue limit on a free port."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {workdir}/\nmax_queued_messages 0\nmax_inflight_messages 0\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: _listening(port), 10, "mosquitto")
    return proc, port


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def client(client_id: str, port: int, clean: bool = True) -> paho.Client:
    """Connect a paho client (API 2) and start its network thread."""
    c = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                    clean_session=clean, protocol=paho.MQTTv311)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not connected.wait(10):
        raise SystemExit("bench client could not connect")
    return c


def stream(events: int, lines: int, run: str) -> list[tuple[str, str]]:
    """Return (line, event id) for each event, round-robin over the lines."""
    return [(f"L{i % lines:02d}", f"{run}-{i}") for i in range(events)]


def publish(pub: paho.Client, plan: list[tuple[str, str]], rate: float | None) -> list[float]:
    """Publish the plan at QoS 1 (paced at ``rate``/s, or flat out); return each send time."""
    sent: list[float] = []
    infos = []
    start = time.monotonic()
    for k, (line, event_id) in enumerate(plan):
        if rate is not None:
            due = start + k / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        t = time.monotonic()
        payload = json.dumps({"n": 1, "id": event_id, "t": t})
        infos.append(pub.publish(f"bench/{line}/parts", payload, qos=1))
        sent.append(t)
    for info in infos:
        info.wait_for_publish(30)
    return sent


def bare_subscriber(port: int, expected: int, ready: Any, out: Any) -> None:
    """Child process: receive the stream with plain paho and report receive times and latencies."""
    got: list[float] = []
    lat: list[float] = []
    done = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        now = time.monotonic()
        got.append(now)
        lat.append(now - json.loads(msg.payload)["t"])
        if len(got) >= expected:
            done.set()

    c = client(f"bare-{os.getpid()}", port)
    c.on_message = on_message
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.subscribe("bench/+/parts", 1)
    subscribed.wait(10)
    ready.set()
    done.wait(300)
    out.send((len(got), got[-1] if got else 0.0, lat))
    c.disconnect()
    c.loop_stop()


def floor(port: int, plan: list[tuple[str, str]], rate: float | None) -> tuple[float, list[float], int]:
    """Run the stream into a bare subscriber; return (events/s, latencies, received)."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=bare_subscriber, args=(port, len(plan), ready, child))
    proc.start()
    if not ready.wait(20):
        raise SystemExit("bare subscriber did not start")
    pub = client(f"pub-floor-{time.monotonic_ns()}", port)
    sent = publish(pub, plan, rate)
    if not parent.poll(120):
        raise SystemExit("bare subscriber did not receive the stream")
    received, last, lat = parent.recv()
    proc.join(10)
    pub.disconnect()
    pub.loop_stop()
    return len(plan) / (last - sent[0]), lat, received


CONFIG_HEAD = """
plant: {{name: Ingest bench, timezone: UTC}}
database: sqlite:///{db}
mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: benchout, client_id: andon-bench}}
shifts:
  - {{id: am, start: "00:00", end: "12:00"}}
  - {{id: pm, start: "12:00", end: "00:00"}}
lines:
"""


class StateWatcher:
    """Subscribe to every line's published state and record (time, actual) per line."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, list[tuple[float, int]]] = {}
        self.actual: dict[str, int] = {}
        self.client = client(f"watch-{time.monotonic_ns()}", port)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe("benchout/+/state", 1)
        subscribed.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        now = time.monotonic()
        line = msg.topic.split("/")[1]
        actual = int(json.loads(msg.payload)["actual_to_date"] or 0)
        with self.lock:
            self.seen.setdefault(line, []).append((now, actual))
            self.actual[line] = max(actual, self.actual.get(line, 0))

    def total(self) -> int:
        """Return the sum of the latest actual over every line."""
        with self.lock:
            return sum(self.actual.values())

    def first_reaching(self, line: str, actual: int) -> float | None:
        """Return when a state of ``line`` first showed at least ``actual`` parts."""
        with self.lock:
            for t, a in self.seen.get(line, []):
                if a >= actual:
                    return t
        return None


def engine_run(
    port: int, workdir: Path, lines: int, plan_flat: list[tuple[str, str]], plan_paced: list[tuple[str, str]],
    rate: float, profile: str | None = None,
) -> dict[str, Any]:
    """Start `andon run`, feed both streams, and measure rate, latency and exactness."""
    text = CONFIG_HEAD.format(db=workdir / "andon.db", port=port)
    for i in range(lines):
        text += (f"  - {{id: L{i:02d}, takt_seconds: 60, sources: [{{type: mqtt, id: parts, "
                 f"topic: bench/L{i:02d}/parts, mode: increment, field: n, id_field: id}}]}}\n")
    (workdir / "bench.yaml").write_text(text)
    api = free_port()
    log = open(workdir / "andon.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "andon.cli", "--log-level", "WARNING", "run", str(workdir / "bench.yaml"),
         "--port", str(api)], cwd=ROOT, stdout=log, stderr=log,
    )
    try:
        wait_for(lambda: healthy(api), 30, "andon run")
        watcher = StateWatcher(port)
        pub = client(f"pub-engine-{time.monotonic_ns()}", port)
        # Probe each line until its source is subscribed (one counted part per line).
        probes = [(f"L{i:02d}", f"probe-{i}") for i in range(lines)]
        deadline = time.monotonic() + 30
        while watcher.total() < lines and time.monotonic() < deadline:
            publish(pub, probes, None)
            time.sleep(0.3)
        base = lines
        wait_for(lambda: watcher.total() == base, 10, "probes to be counted")
        spy = None
        if profile:
            # Sample every thread of `andon run` while the flat-out stream goes through (needs py-spy).
            spy = subprocess.Popen(["py-spy", "record", "--threads", "--format", "raw", "-o", profile,
                                    "--pid", str(proc.pid), "--rate", "200"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)

        sent = publish(pub, plan_flat, None)
        wait_for(lambda: watcher.total() == base + len(plan_flat), 120, "every flat-out event in the states")
        done_at = max(watcher.first_reaching(line, _expected(plan_flat, line) + 1) or 0.0
                      for line in {name for name, _ in plan_flat})
        flat_rate = len(plan_flat) / (done_at - sent[0])
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)

        before = {line: watcher.actual.get(line, 0) for line in {name for name, _ in plan_paced}}
        sent = publish(pub, plan_paced, rate)
        wait_for(lambda: watcher.total() == base + len(plan_flat) + len(plan_paced), 120, "every paced event")
        latencies = []
        index: dict[str, int] = {}
        for (line, _), t in zip(plan_paced, sent, strict=True):
            index[line] = index.get(line, 0) + 1
            reached = watcher.first_reaching(line, before[line] + index[line])
            assert reached is not None
            latencies.append(reached - t)
        api_total = sum(int(x["state"]["actual_to_date"]) for x in httpx.get(
            f"http://127.0.0.1:{api}/api/lines", timeout=10).json())
        pub.disconnect()
        pub.loop_stop()
        watcher.client.disconnect()
        watcher.client.loop_stop()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    db = sqlite3.connect(str(workdir / "andon.db"))
    stored, stored_ids = db.execute("SELECT SUM(count), COUNT(DISTINCT event_id) FROM count_events").fetchone()
    db.close()
    expected = base + len(plan_flat) + len(plan_paced)
    return {"rate": flat_rate, "latencies": latencies, "expected": expected, "api_total": api_total,
            "stored": int(stored or 0), "stored_ids": int(stored_ids or 0)}


def _expected(plan: list[tuple[str, str]], line: str) -> int:
    return sum(1 for name, _ in plan if name == line)


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) in milliseconds."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


RATIO_ROWS = ("highest sustained step", "p99 @1000 msg/s", "CPU @1000 msg/s", "RSS peak", "flat-out delivered")


def three_way(harness: Path, mode: str, runs: int, one_core: bool, extra: list[str]) -> None:
    """Run the side-by-side harness (andon, Node-RED, a bare subscriber) ``runs`` times; print each table
    and the median of each ratio (andon / Node-RED) over the runs."""
    env = dict(os.environ, ANDON_REPO=str(ROOT))
    if one_core:
        # A Pi-class figure: andon pinned to one core (the wrapper execs, so the harness measures andon itself).
        python = Path(env.get("ANDON_PY", "/tmp/threeway/andon-venv/bin/python"))
        wrapper = Path(tempfile.mkdtemp(prefix="andon-one-core-")) / "python"
        wrapper.write_text(f'#!/bin/sh\nexec taskset -c 0 "{python}" "$@"\n')
        wrapper.chmod(0o755)
        env["ANDON_PY"] = str(wrapper)
    ratios: dict[str, list[float]] = {row: [] for row in RATIO_ROWS}
    for run in range(runs):
        done = subprocess.run(["bash", str(harness / "run.sh"), f"--{mode}", *extra], env=env,
                              capture_output=True, text=True, check=False)
        print(f"--- three-way run {run + 1} of {runs}" + (" (andon on one core)" if one_core else ""))
        start = done.stdout.find("three-way ingest:")
        table = done.stdout[start:] if start >= 0 else done.stdout
        print(table.rstrip())
        if done.returncode != 0:
            print(done.stderr[-2000:])
            sys.exit(done.returncode)
        for line in table.splitlines():
            for row in RATIO_ROWS:
                if line.startswith(row):
                    cells = line[len(row):].split()
                    # figure, andon, node-red, floor, andon/NR, andon/floor, better
                    if len(cells) >= 6 and cells[-3] not in ("-", ""):
                        with contextlib.suppress(ValueError):
                            ratios[row].append(float(cells[-3]))
    print(f"--- median over {runs} run(s) of andon / Node-RED")
    for row, values in ratios.items():
        shown = f"{statistics.median(values):.2f}" if values else "-"
        print(f"  {row:<28} {shown:>6}   ({', '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    """Run the benchmark and print the figures beside the floor (or the three-way comparison)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events in the flat-out stream")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the paced stream")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced stream")
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--profile", help="write py-spy raw samples of the flat-out phase to this file")
    parser.add_argument("--three-way", type=Path, metavar="HARNESS",
                        help="instead: run the side-by-side harness in this folder (its run.sh) against this checkout")
    parser.add_argument("--mode", choices=("quick", "full"), default="full", help="the harness's --quick or --full")
    parser.add_argument("--runs", type=int, default=1, help="harness runs; the median of each ratio is printed")
    parser.add_argument("--one-core", action="store_true", help="pin andon to one core (taskset), a Pi-class figure")
    parser.add_argument("--targets", help="the harness's --targets (floor,nr,andon)")
    args = parser.parse_args()
    if args.three_way is not None:
        extra = ["--targets", args.targets] if args.targets else []
        three_way(args.three_way, args.mode, args.runs, args.one_core, extra)
        return
    # The publisher and the state watcher share this process; with CPython's 5 ms GIL switch
    # interval the watcher would add its own waits to the latency it measures.
    sys.setswitchinterval(0.0005)
    flat = stream(args.events, args.lines, "flat")
    paced = stream(int(args.rate * args.seconds), args.lines, "paced")
    with tempfile.TemporaryDirectory(prefix="andon-ingest-") as tmp:
        workdir = Path(tmp)
        broker, port = start_broker(workdir)
        try:
            floor_rate, _, floor_got = floor(port, flat, None)
            _, floor_lat, _ = floor(port, paced, args.rate)
            engine = engine_run(port, workdir, args.lines, flat, paced, args.rate, args.profile)
        finally:
            broker.terminate()
            broker.wait(10)
    lat = engine["latencies"]
    exact = engine["expected"] == engine["api_total"] == engine["stored"] == engine["stored_ids"]
    print(f"ingest through Mosquitto, {args.lines} lines, QoS 1, SQLite durable commit before ack")
    print(f"  flat-out {args.events} events:   engine {engine['rate']:8.0f} ev/s   "
          f"bare subscriber {floor_rate:8.0f} ev/s   ratio {engine['rate'] / floor_rate:.2f} (target >= 0.5)")
    print(f"  paced {args.rate:.0f} ev/s x {args.seconds:g} s:  engine p50 {pct(lat, 0.5):6.2f} ms  "
          f"p99 {pct(lat, 0.99):6.2f} ms  max {max(lat) * 1000:6.1f} ms (target p99 < 25 ms)")
    print(f"                          bare   p50 {pct(floor_lat, 0.5):6.2f} ms  p99 {pct(floor_lat, 0.99):6.2f} ms  "
          f"mean {statistics.fmean(floor_lat) * 1000:.2f} ms")
    print(f"  counts: expected {engine['expected']}, board {engine['api_total']}, stored {engine['stored']} "
          f"({engine['stored_ids']} distinct ids), bare subscriber got {floor_got}/{args.events} -> "
          f"{'EXACT' if exact else 'MISMATCH'}")
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()
