"""`andon check-config`: every error in file order at its YAML line, the nearest valid key or type, and
one warning per optional library a configured driver needs but cannot import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port, shift_around_now, wait_until

# Line numbers are part of the expected output below: keep them in step.
BROKEN = """\
database: sqlite:///andon.db
shifts:
  - id: early
    start: "06:00"
    end: "14:00"
    dayz: [mon]
lines:
  - id: line1
    tak_seconds: 60
    sources:
      - {type: modbuss, host: plc, register: 5}
      - type: modbus
        register: 5
        register_type: holdin
        pol_seconds: 2
    stack_light: {type: teleport}
    andon:
      buttons:
        - {type: gpio, pin: 5, station: st1, category: quality, colour: red}
  - id: line2
    takt_seconds: 0
    takt_seconds: 30
mqtt: {password: "${ANDON_TEST_UNSET_PASSWORD}"}
plant: {name: P, timezone: Europe/Londn}
"""
EXPECTED = [
    "line 6: shifts[0].dayz: unknown key; did you mean days?",
    "line 9: lines[0].tak_seconds: unknown key; did you mean takt_seconds?",
    "line 11: lines[0].sources[0].type: unknown source type 'modbuss'; did you mean modbus?",
    "line 12: lines[0].sources[1].host: Field required",
    "line 14: lines[0].sources[1].register_type: Input should be 'holding', 'input', 'coil' or 'discrete_input'; "
    "did you mean holding?",
    "line 15: lines[0].sources[1].pol_seconds: unknown key; did you mean poll_seconds?",
    "line 16: lines[0].stack_light.type: unknown stack light type 'teleport'; the stack light types are gpio, "
    "modbus, mqtt, patlite",
    "line 19: lines[0].andon.buttons[0].colour: unknown key",
    "line 22: lines[1].takt_seconds: key given twice (first on line 21); give it once",
    "line 23: mqtt.password: environment variable ANDON_TEST_UNSET_PASSWORD is not set "
    "(write ${ANDON_TEST_UNSET_PASSWORD:-default} to give a default)",
    "line 24: plant.timezone: unknown IANA timezone 'Europe/Londn'; did you mean Europe/London?",
]
# Runs the command with these modules unimportable, as in a venv installed without the extra.
WITHOUT = """\
import sys
class Absent:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Absent)
from andon.cli import main
sys.exit(main(sys.argv[1:]))
"""
# The pip the messages name: the venv's own, else this python's.
PIP = str(Path(sys.prefix) / "bin" / "pip") if sys.prefix != sys.base_prefix else f"{Path(sys.executable).name} -m pip"
PLC_PLANT = """\
database: sqlite:///{db}
api: {{port: {port}}}
shifts: [{{id: all, start: "{start}", end: "{end}"}}]
lines:
  - id: line1
    takt_seconds: 60
    sources: [{{type: modbus, id: plc, host: 127.0.0.1, port: {plc_port}, register: 0}}]
    stack_light: {{type: gpio, pins: {{red: 17, green: 22}}}}
"""


def without(blocked: set[str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `andon ARGS` in a process that cannot import the ``blocked`` libraries."""
    code = WITHOUT.format(blocked=sorted(blocked))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout)


def test_errors_come_in_file_order_at_their_lines_with_suggestions(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    done = subprocess.run([sys.executable, "-m", "andon.cli", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"{path}: {len(EXPECTED)} error(s)", *(f"  {e}" for e in EXPECTED)]


def test_missing_libraries_are_warnings_naming_the_extra() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
    done = without({"pymodbus", "gpiozero"}, "check-config", str(example))
    pip = PIP
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{example}: OK — 2 line(s), 3 shift(s), 12 source(s)\n"
    assert done.stderr.splitlines() == [
        f"warning: the modbus source line1/plc needs pymodbus, which is not installed: {pip} install 'andon[plc]'",
        f"warning: the gpio stack light of line1 (and 2 more) needs gpiozero, which is not installed: "
        f"{pip} install 'andon[pi]'",
    ]


def test_a_driver_without_its_library_is_one_line_and_an_offline_source(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "plant.yaml"
    start, end = shift_around_now()
    config.write_text(PLC_PLANT.format(start=start, end=end, db=tmp_path / "andon.db", port=port, plc_port=free_port()))
    log = tmp_path / "run.log"
    code = WITHOUT.format(blocked=["gpiozero", "pymodbus"])
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(config)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30)
        state = httpx.get(base + "/api/lines/line1/state", timeout=5).json()
    finally:
        proc.terminate()
        proc.wait(30)
    assert state["condition"] == "stale"
    assert state["reason"] == "pymodbus is not installed (install andon[plc])"
    text = log.read_text()
    pip = PIP
    errors = [line.split(": ", 1)[1] for line in text.splitlines() if " ERROR " in line]
    assert errors == [
        f"the gpio stack light of line1 needs gpiozero, which is not installed: {pip} install 'andon[pi]'",
        f"the modbus source line1/plc needs pymodbus, which is not installed: {pip} install 'andon[plc]'",
        "line line1 source plc offline: pymodbus is not installed (install andon[plc])",
    ]
    assert "Traceback" not in text
