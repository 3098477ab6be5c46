"""docs/config-reference.md is what the config models say, and its examples are valid config."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from andon.config.loader import parse_config
from andon.config.reference import reference_markdown
from devices import catalog

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "config-reference.md"
FAMILIES = [
    ("Count source", "lines[].sources[]", catalog.sources),
    ("Stack light", "lines[].stack_light", catalog.lights),
    ("Andon button", "lines[].andon.buttons[]", catalog.buttons),
]


def sections(text: str) -> dict[str, str]:
    """Split the Markdown into {heading: body}."""
    parts = re.split(r"^#{2,3} (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def keys_of(body: str) -> list[str]:
    """Return the keys of the first table of a section."""
    return re.findall(r"^\| `([^`]+)` \|", body.split("\n\n**")[0], flags=re.M)


def test_the_committed_reference_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/config-reference.md is out of date: run `andon config-reference -o docs/config-reference.md`"
    )


def test_the_command_writes_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "ref.md"
    done = subprocess.run([sys.executable, "-m", "andon.cli", "config-reference", "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"wrote {out}\n")
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")


@pytest.mark.parametrize(("title", "where", "drivers"), FAMILIES)
def test_every_key_of_every_driver_is_listed(title: str, where: str, drivers: object) -> None:
    found = sections(COMMITTED.read_text(encoding="utf-8"))
    heading = next(h for h in found if h.endswith(f"`{where}`") and not h.startswith("`"))
    common = set(keys_of(found[heading]))
    assert callable(drivers)
    for name, driver in drivers().items():
        accepted = {f.alias or k for k, f in driver.config_model.model_fields.items()} - {"type"}
        listed = common | set(keys_of(found[f"{title} `type: {name}`"]))
        assert listed == accepted, name


def test_every_section_key_is_listed() -> None:
    found = sections(COMMITTED.read_text(encoding="utf-8"))
    assert keys_of(found["Top level"]) == [
        "plant", "database", "api", "availability", "auth", "mqtt", "outputs", "shifts", "lines", "areas", "sqdc",
        "enterprise", "notifications", "people", "stop_reasons", "products",
    ]
    assert keys_of(found["`lines[]`"]) == [
        "id", "name", "shifts", "takt_seconds", "demand_per_shift", "interval_minutes", "thresholds", "sources",
        "stack_light", "andon", "ideal_cycle_seconds", "losses", "stop_reasons", "products", "changeover",
    ]
    assert keys_of(found["`shifts[]`"]) == ["id", "name", "start", "end", "days", "breaks"]
    assert keys_of(found["`lines[].andon`"]) == [
        "categories", "stations", "escalation", "escalation_by_category", "webhook_url", "buttons",
    ]


@pytest.mark.parametrize(
    ("heading", "row"),
    [
        ("`lines[]`", "| `takt_seconds` | number or null, ≥ 0.001, ≤ 86400 | `null` | s |"),
        ("`lines[]`", "| `interval_minutes` | integer, ≥ 1, ≤ 1440 | `60` | min |"),
        ("`lines[].thresholds`", "| `abnormal_behind` | integer, ≥ 0 | `3` | parts |"),
        ("`mqtt`", "| `keepalive` | integer, ≥ 5 | `30` | s |"),
        ("Count source `type: modbus`", "| `register` | integer, ≥ 0, ≤ 65535 | *required* |  | 0-based address"),
        ("Count source `type: modbus`", "| `word_order` | one of `big`, `little` | `big` |  |"),
        ("Count source `type: modbus`", "| holding register 40001 (or 400001) | `holding` | `0` |"),
        ("Count source `type: modbus`", "| input register 30005 | `input` | `4` |"),
        ("Count source `type: s7`", "| `offset` | integer, ≥ 0, ≤ 65535 | *required* | bytes |"),
        ("Count source `type: serial`", '| `newline` | text, at least 1 long | `"\\n"` |'),
        ("Count source `type: opcua`", "| `ns=<index>;i=<number>` | numeric identifier | `ns=2;i=1001` |"),
        ("Count source `type: ethernetip`", "| `Program:MainProgram.PartCount` | a program-scoped tag"),
        ("Stack light `type: patlite`", "| `port` | integer, ≥ 1, ≤ 65535 | `10000` |  |"),
        ("Andon button `type: serial`", "| `baudrate` | integer, > 0 | `9600` | bit/s |"),
    ],
)
def test_rows_say_type_default_and_unit(heading: str, row: str) -> None:
    body = sections(COMMITTED.read_text(encoding="utf-8"))[heading]
    assert any(line.startswith(row) for line in body.splitlines()), row


def test_the_examples_in_the_reference_are_valid_config() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", COMMITTED.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 5
    for block in blocks:
        items = "".join("      " + line + "\n" for line in block.splitlines())
        text = f'shifts: [{{id: a, start: "06:00", end: "14:00"}}]\nlines:\n  - id: l1\n    takt_seconds: 60\n' \
               f"    sources:\n{items}"
        config = parse_config(text)
        assert len(config.lines[0].sources) == 1
