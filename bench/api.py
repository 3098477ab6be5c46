"""API benchmark against a running `andon run` (uvicorn, SQLite WAL).

Open-loop load at a fixed rate for a fixed time, in a repeating mix of four requests: raise a new
andon call, GET the board, resolve the call raised before, GET the board. The raise/resolve pairs
keep a plant-like handful of calls open. Prints p50/p99/max per kind. The load starts --warmup seconds
(20) after start-up: the demo's simulators first fill in the last 8 hours of counts and products, and
requests in those seconds wait behind it (p99 up to ~200 ms), which a plant's server never does.
Run: python bench/api.py [--rate 200] [--seconds 30] [--warmup 20]        Target: p99 under 25 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from demo_plant import demo_config, free_port, start_andon

COMMAND = "run"


class Connection:
    """A keep-alive HTTP/1.1 connection with a minimal client: the load generator shares two cores
    with the server, so it must cost far less per request than a full client library."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)


async def load(host: str, port: int, rate: float, seconds: float) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"raise": [], "resolve": [], "board": []}
    errors = 0
    calls: list[int] = []
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(Connection(*await asyncio.open_connection(host, port)))

    async def one(i: int) -> None:
        nonlocal errors
        conn = await pool.get()
        t0 = time.perf_counter()
        if i % 4 == 0:
            status, body = await conn.request(
                "POST", "/api/andons", {"line": "line2", "station": f"st{i}", "category": "quality"}
            )
            kind = "raise"
            if status == 201:
                calls.append(json.loads(body)["id"])
        elif i % 4 == 2 and calls:
            status, _ = await conn.request("POST", f"/api/andons/{calls.pop(0)}/resolve")
            kind = "resolve"
        else:
            status, _ = await conn.request("GET", "/api/lines/line1/board")
            kind = "board"
        elapsed = (time.perf_counter() - t0) * 1000
        pool.put_nowait(conn)
        if status >= 400:
            errors += 1
        results[kind].append(elapsed)

    tasks = []
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    achieved = total / (time.perf_counter() - start)
    conn = await pool.get()
    _, metrics = await conn.request("GET", "/metrics")
    print("server-side latency buckets (cumulative counts):")
    for line in metrics.decode().splitlines():
        if line.startswith("andon_api_request_seconds_bucket") and ("/api/andons" in line or "/board" in line):
            print("  " + line)
    conn.writer.close()
    while not pool.empty():
        pool.get_nowait().writer.close()
    print(f"sent {total} requests at {achieved:.0f} req/s (offered {rate:.0f} req/s); errors: {errors}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=20,
                        help="seconds to wait after start: the demo's simulators first fill in the last 8 hours")
    parser.add_argument("--profile", help="write a py-spy flame graph of the server to this SVG file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="andon-api-bench-"))
    port = free_port()
    proc = start_andon(demo_config(folder), port, COMMAND, log=folder / "server.log")
    time.sleep(args.warmup)  # the load starts once the demo's backfill is in, as a plant's server runs
    spy = None
    if args.profile:
        fmt = "raw" if args.profile.endswith(".txt") else "flamegraph"
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--format",
                fmt,
                "-o",
                args.profile,
                "-p",
                str(proc.pid),
                "-d",
                str(int(args.seconds) + 1),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        # The load generator's own garbage collections would show up as server latency.
        gc.collect()
        gc.freeze()
        gc.disable()
        results = asyncio.run(load("127.0.0.1", port, args.rate, args.seconds))
        gc.enable()
        if spy is not None:
            spy.wait(60)
        for kind, values in results.items():
            values.sort()
            p99 = values[max(0, int(len(values) * 0.99) - 1)]
            print(
                f"{kind:6s} n={len(values):5d}  p50 {statistics.median(values):6.2f} ms  p99 {p99:6.2f} ms"
                f"  max {values[-1]:6.2f} ms"
            )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        log = (folder / "server.log").read_text(errors="replace").strip()
        if log:
            print("server log (last lines):\n" + "\n".join(log.splitlines()[-15:]))
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
