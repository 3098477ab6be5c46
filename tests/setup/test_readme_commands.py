"""The README's set-up, word for word, in a fresh copy of the checkout with Debian's python3 first on PATH."""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
# The first install on a machine without pip's cache downloads every wheel; later ones take seconds.
READY_SECONDS = 600


def readme_commands() -> list[str]:
    """Return the commands of the README's set-up block (comments left out)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up: two commands", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the set-up section has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def fresh_copy(target: Path) -> Path:
    """Copy the checkout's files as a fresh clone has them (tracked and new, not ignored ones)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def png_size(path: Path) -> tuple[int, int]:
    """Return (width, height) from a PNG's header, checking its signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_readme_has_exactly_two_set_up_commands() -> None:
    assert readme_commands() == ["bash scripts/demo.sh", "bash scripts/test.sh"]


@pytest.mark.slow
@pytest.mark.timeout(READY_SECONDS + 120)
def test_the_first_command_runs_the_demo_and_its_display_from_a_fresh_copy(tmp_path: Path) -> None:
    first = readme_commands()[0]
    checkout = fresh_copy(tmp_path / "andon")
    assert not (checkout / ".venv").exists()
    port = free_port()
    # A shell's environment, with Debian's python3 first on PATH and no virtual environment active.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = DEBIAN_PATH
    log = tmp_path / "demo.log"
    # The README's command word for word; only the port differs, so a test never needs port 8000.
    demo = subprocess.Popen(
        ["bash", "-c", f"{first} --port {port}"], cwd=checkout, env=env,
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            assert demo.poll() is None, f"the demo stopped ({demo.returncode}):\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no answer on {base} in {READY_SECONDS} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        venv_python = (checkout / ".venv" / "bin" / "python").resolve()
        assert str(venv_python).startswith("/usr/bin/python3"), venv_python  # made with Debian's python3
        lines = httpx.get(base + "/api/lines", timeout=10).json()
        assert [line["id"] for line in lines] == ["line1", "line2"]
        shot = subprocess.run(
            [str(checkout / ".venv" / "bin" / "andon"), "display", "--server", base, "--line", "line1",
             "--snapshot", "board.png"],
            cwd=checkout, env={**env, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
            capture_output=True, text=True, timeout=120,
        )
        assert shot.returncode == 0, shot.stderr
        assert png_size(checkout / "board.png") == (1920, 1080)
        # The demo's venv has no PLC, serial or GPIO libraries: check-config warns, once per library.
        check = subprocess.run([str(checkout / ".venv" / "bin" / "andon"), "check-config", "config/example.yaml"],
                               cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
        ok = "config/example.yaml: OK — 2 line(s), 3 shift(s), 12 source(s)\n"
        assert (check.returncode, check.stdout) == (0, ok)
        pip = re.escape(str(checkout / ".venv" / "bin" / "pip"))
        named = [re.fullmatch(rf"warning: .* needs (\S+), which is not installed: {pip} install 'andon\[(\w+)\]'", line)
                 for line in check.stderr.splitlines()]
        assert [m.groups() if m else None for m in named] == [
            ("pymodbus", "plc"), ("gpiozero", "pi"), ("pyserial", "serial"), ("asyncua", "plc"),
            ("python-snap7", "plc"), ("pylogix", "plc"),
        ], check.stderr
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(60) == 0, log.read_text()[-3000:]
        assert "stopped; every count is written" in log.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
