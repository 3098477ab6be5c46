"""`andon simulate`: the server from the config's api section, and a bounded try when none answers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, shift_around_now, wait_until

CONFIG = """\
database: sqlite:///{db}
api: {{host: 0.0.0.0, port: {port}}}
shifts: [{{id: all, start: "{start}", end: "{end}"}}]
lines:
  - {{id: line1, takt_seconds: 60, sources: [{{type: http, id: http}}]}}
"""


def simulate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `andon simulate` with the arguments and return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "andon.cli", "simulate", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real `andon serve` listening on the port its config names; yield (config, base URL)."""
    port = free_port()
    config = tmp_path / "plant.yaml"
    start, end = shift_around_now()
    config.write_text(CONFIG.format(start=start, end=end, db=tmp_path / "andon.db", port=port))
    proc = subprocess.Popen([sys.executable, "-m", "andon.cli", "serve", str(config)],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.log", "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30)
        yield config, base
    finally:
        proc.terminate()
        proc.wait(30)


def test_simulate_finds_the_server_in_the_config(served: tuple[Path, str]) -> None:
    config, base = served
    before = httpx.get(base + "/api/lines/line1/state").json()["actual_to_date"]
    done = simulate("--config", str(config), "--line", "line1", "--count", "3", "--cycle", "0",
                    "--scrap-rate", "0", "--seed", "1")
    assert (done.returncode, done.stdout) == (0, f"sent 3 part(s) to line1 at {base}\n"), done.stderr
    assert httpx.get(base + "/api/lines/line1/state").json()["actual_to_date"] - before == 3


def test_simulate_gives_up_on_a_server_that_is_not_there() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = simulate("--server", url, "--line", "line1", "--wait", "1", timeout=30)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"andon simulate: no andon server answers at {url} (tried for 1 s); start one "
        "(andon run config/demo.yaml) or pass --server URL or --config CONFIG"
    )
    assert done.stdout == ""


def test_simulate_names_an_unknown_line(served: tuple[Path, str]) -> None:
    config, _ = served
    done = simulate("--config", str(config), "--line", "nope", "--count", "1", "--cycle", "0")
    assert done.returncode == 1
    assert done.stderr == 'refused: 404 {"detail":"no line \'nope\'; GET /api/lines lists the lines"}\n'


def test_simulate_feeds_the_one_of_two_servers_that_answers(served: tuple[Path, str]) -> None:
    _, base = served
    before = httpx.get(base + "/api/lines/line1/state").json()["actual_to_date"]
    pair = f"http://127.0.0.1:{free_port()},{base}"
    done = simulate("--server", pair, "--line", "line1", "--count", "2", "--cycle", "0", "--scrap-rate", "0")
    assert (done.returncode, done.stdout) == (0, f"sent 2 part(s) to line1 at {pair}\n"), done.stderr
    assert httpx.get(base + "/api/lines/line1/state").json()["actual_to_date"] - before == 2
    bad = simulate("--server", "10.0.0.2:8000", "--line", "line1", "--count", "1")
    assert (bad.returncode, bad.stderr) == (2, "andon simulate: --server: server URL '10.0.0.2:8000' must start "
                                                "with http:// or https:// and name a host (for example "
                                                "http://10.0.0.2:8000)\n")
