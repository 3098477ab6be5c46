"""What the benchmarks share: free loopback ports, the demo config on a scratch database, and
`andon run` started as a process and waited for."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def healthy(port: int) -> bool:
    """Tell whether an andon server on 127.0.0.1:port answers /healthz."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def demo_config(folder: Path) -> Path:
    """Write config/demo.yaml into ``folder`` with its database there too; return its path."""
    text = (REPO / "config" / "demo.yaml").read_text()
    path = folder / "demo.yaml"
    path.write_text(text.replace("sqlite:///andon-demo.db", f"sqlite:///{folder / 'demo.db'}"))
    return path


def start_andon(config: Path, port: int, command: str = "run", log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `andon run|serve CONFIG` on 127.0.0.1:port and wait until /healthz answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "andon.cli", "--log-level", "WARNING", command, str(config),
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=open(log, "wb") if log is not None else subprocess.DEVNULL,  # noqa: SIM115
    )
    deadline = time.monotonic() + 30
    while not healthy(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"andon {command} did not start on port {port}")
        time.sleep(0.1)
    return proc
