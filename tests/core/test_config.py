"""Config validation: every error with its YAML line and key path; the shipped configs are valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from andon.config.loader import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]

BASE = """plant: {name: P, timezone: Europe/London}
shifts:
  - id: early
    start: "06:00"
    end: "14:00"
lines:
  - id: line1
    takt_seconds: 60
"""


def problems(text: str) -> list[str]:
    try:
        parse_config(text)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE, []),
        (
            BASE.replace("Europe/London", "Europe/Londn"),
            ["line 1: plant.timezone: unknown IANA timezone 'Europe/Londn'; did you mean Europe/London?"],
        ),
        (BASE + "    colour: red\n", ["line 9: lines[0].colour: unknown key"]),
        (BASE + "    demand_per_shift: 400\n", ["line 7: lines[0]: give takt_seconds or demand_per_shift, not both"]),
        (BASE.replace("    takt_seconds: 60\n", ""), ["line 7: lines[0]: give takt_seconds or demand_per_shift"]),
        (
            BASE.replace('    end: "14:00"\n', '    end: "14:00"\n    breaks: [{start: "15:00", end: "15:10"}]\n'),
            ["line 6: shifts[0].breaks[0]: break 15:00-15:10 is outside the shift 06:00-14:00"],
        ),
        (
            BASE.replace('    end: "14:00"\n', '    end: "14:00"\n    breaks: [{start: "9:00", end: "09:10"}]\n'),
            ["line 6: shifts[0].breaks[0].start: '9:00' is not a time of day written as HH:MM (00:00 to 23:59)"],
        ),
        (
            BASE.replace('    end: "14:00"\n', '    end: "14:00"\n  - {id: late, start: "13:00", end: "21:00"}\n'),
            ["line 6: shifts[1]: line 'line1' has overlapping shifts 'early' and 'late'"],
        ),
        (
            BASE.replace('    end: "14:00"\n', '    end: "14:00"\n  - {id: early, start: "15:00", end: "21:00"}\n'),
            ["line 6: shifts[1].id: duplicate shift id 'early'"],
        ),
        (BASE + "  - {id: line1, takt_seconds: 30}\n", ["line 9: lines[1].id: duplicate line id 'line1'"]),
        (
            BASE + "    shifts: [late]\n",
            ["line 9: lines[0].shifts[0]: line 'line1' names unknown shift 'late'; the shifts are early"],
        ),
        (
            BASE + "    shifts: [erly]\n",
            ["line 9: lines[0].shifts[0]: line 'line1' names unknown shift 'erly'; did you mean early?"],
        ),
        (
            BASE + "    sources: [{type: modbus, host: plc, register: 5, colour: red}]\n",
            ["line 9: lines[0].sources[0].colour: unknown key"],
        ),
        (
            BASE + "    sources: [{type: teleport}]\n",
            [
                "line 9: lines[0].sources[0].type: unknown source type 'teleport'; the source types are ethernetip, "
                "gpio, http, modbus, modbus_product, mqtt, mqtt_product, opcua, product_simulator, s7, serial, "
                "simulator, sparkplug"
            ],
        ),
        (
            BASE + "    sources: [{type: simulator, id: a}, {type: http, id: a}]\n",
            ["line 9: lines[0].sources[1].id: two sources of this line have the id 'a'"],
        ),
        (
            BASE + "mqtt: {password: '${ANDON_TEST_UNSET_VARIABLE}'}\n",
            [
                "line 9: mqtt.password: environment variable ANDON_TEST_UNSET_VARIABLE is not set "
                "(write ${ANDON_TEST_UNSET_VARIABLE:-default} to give a default)"
            ],
        ),
        (
            "database: 'sqlite:///:memory:'\n" + BASE,
            ["line 1: database: 'sqlite:///:memory:' is a database in memory: every count would be lost when the "
             "process ends (and the server's threads cannot share it); give a file, such as sqlite:///andon.db"],
        ),
        ("plant: [1, 2", ["line 1: (top): not valid YAML: expected ',' or ']', but got '<stream end>'"]),
        ("plant: {name: a\n  b: [", ["line 2: (top): not valid YAML: expected ',' or '}', but got ':'"]),
    ],
)
def test_config_errors_name_the_line_and_key(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_several_errors_are_all_reported() -> None:
    text = BASE.replace("Europe/London", "Mars/Base") + "    interval_minutes: 0\n    colour: red\n"
    assert problems(text) == [
        "line 1: plant.timezone: unknown IANA timezone 'Mars/Base' (such as Europe/London or America/Chicago)",
        "line 9: lines[0].interval_minutes: Input should be greater than or equal to 1",
        "line 10: lines[0].colour: unknown key",
    ]


def test_cross_reference_errors_are_all_reported() -> None:
    """Names that point nowhere, a duplicate id and overlapping shifts: each told, in file order, in one pass."""
    text = """plant: {name: P, timezone: UTC}
shifts:
  - {id: early, start: "06:00", end: "14:00"}
  - {id: late, start: "13:00", end: "21:00"}
lines:
  - {id: l1, takt_seconds: 60, shifts: [erly]}
  - {id: l1, takt_seconds: 60, shifts: [nope]}
  - {id: l3, takt_seconds: 60}
  - {id: l4, takt_seconds: 60}
areas:
  - {id: a, lines: [l9]}
"""
    assert problems(text) == [
        "line 4: shifts[1]: line 'l3' has overlapping shifts 'early' and 'late'",  # once, not for l3 and l4
        "line 6: lines[0].shifts[0]: line 'l1' names unknown shift 'erly'; did you mean early?",
        "line 7: lines[1].id: duplicate line id 'l1'",
        "line 7: lines[1].shifts[0]: line 'l1' names unknown shift 'nope'; the shifts are early, late",
        "line 11: areas[0].lines[0]: area 'a' names unknown line 'l9'",
    ]
    # The checks after an unknown shift do not trip on it (the ideal cycle is checked against the known ones).
    line = "  - {id: l5, demand_per_shift: 100, ideal_cycle_seconds: 500, shifts: [early, night]}\n"
    assert problems(text.replace("areas:\n  - {id: a, lines: [l9]}\n", line)) == [
        "line 4: shifts[1]: line 'l3' has overlapping shifts 'early' and 'late'",
        "line 6: lines[0].shifts[0]: line 'l1' names unknown shift 'erly'; did you mean early?",
        "line 7: lines[1].id: duplicate line id 'l1'",
        "line 7: lines[1].shifts[0]: line 'l1' names unknown shift 'nope'; the shifts are early, late",
        "line 10: lines[4].shifts[1]: line 'l5' names unknown shift 'night'; the shifts are early, late",
        "line 10: lines[4].ideal_cycle_seconds: ideal_cycle_seconds 500 is longer than the takt of shift 'early' "
        "(288 s): the line could never make its demand",
    ]


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDON_TEST_SECRET", "s3cret")
    config = parse_config(BASE + "mqtt: {password: '${ANDON_TEST_SECRET}'}\n")
    assert config.mqtt is not None and config.mqtt.password == "s3cret"


@pytest.mark.parametrize("name", ["demo.yaml", "example.yaml"])
def test_shipped_configs_are_valid(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANDON_MQTT_PASSWORD", raising=False)  # valid as shipped, with no environment
    config = load_config(ROOT / "config" / name)
    assert config.lines


@pytest.mark.parametrize(
    ("value", "environment", "expected"),
    [
        ("${ANDON_TEST_SECRET:-fallback}", {}, "fallback"),
        ("${ANDON_TEST_SECRET:-fallback}", {"ANDON_TEST_SECRET": ""}, "fallback"),
        ("${ANDON_TEST_SECRET:-fallback}", {"ANDON_TEST_SECRET": "s3cret"}, "s3cret"),
        ("${ANDON_TEST_SECRET:-}", {}, ""),
        ("${ANDON_TEST_SECRET}", {"ANDON_TEST_SECRET": ""}, ""),
        ("pre-${ANDON_TEST_SECRET:-a}-${ANDON_TEST_OTHER:-b}", {"ANDON_TEST_OTHER": "c"}, "pre-a-c"),
    ],
)
def test_environment_defaults(
    value: str, environment: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANDON_TEST_SECRET", "ANDON_TEST_OTHER"):
        monkeypatch.delenv(name, raising=False)
    for name, text in environment.items():
        monkeypatch.setenv(name, text)
    config = parse_config(BASE + f"mqtt: {{password: '{value}'}}\n")
    assert config.mqtt is not None and config.mqtt.password == expected


def test_check_config_command(tmp_path: Path) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "andon.cli", "check-config", str(ROOT / "config" / "demo.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (good.returncode, good.stdout.strip()) == (
        0,
        f"{ROOT / 'config' / 'demo.yaml'}: OK — 2 line(s), 3 shift(s), 4 source(s)",
    )
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(BASE + "    colour: red\n")
    bad = subprocess.run(
        [sys.executable, "-m", "andon.cli", "check-config", str(bad_file)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr == f"{bad_file}: 1 error(s)\n  line 9: lines[0].colour: unknown key\n"
    missing = subprocess.run(
        [sys.executable, "-m", "andon.cli", "check-config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "cannot read: No such file or directory" in missing.stderr


def test_andon_stations_are_ids_or_ids_with_names() -> None:
    config = parse_config(BASE + "    andon:\n      stations: [st1, {id: st2, name: Press}]\n")
    stations = config.lines[0].andon.stations
    assert [(s.id, s.name, s.label) for s in stations] == [("st1", None, "st1"), ("st2", "Press", "Press")]
    assert config.lines[0].andon.station_ids() == ["st1", "st2"]
    assert parse_config(BASE).lines[0].andon.station_ids() == []  # none listed: any station is taken


@pytest.mark.parametrize(
    ("andon", "expected"),
    [
        ("{stations: [st1, st1]}", ["line 9: lines[0].andon.stations: a station is listed twice"]),
        (
            "{stations: [' st1']}",
            ["line 9: lines[0].andon.stations[0].id: String should match pattern '^\\S(.*\\S)?$'"],
        ),
        (
            "{stations: [st1], buttons: [{type: gpio, pin: 5, station: st2, category: help}]}",
            ["line 9: lines[0].andon.buttons[0].station: "
             "a button names station 'st2', which is not in stations ['st1']"],
        ),
    ],
)
def test_andon_station_errors(andon: str, expected: list[str]) -> None:
    assert problems(BASE + f"    andon: {andon}\n") == expected


MQTT_LINE = BASE + """    sources:
      - {type: mqtt, id: parts, topic: "TOPIC"}
"""


@pytest.mark.parametrize(("topic", "expected"), [
    ("t/#/x", "in topic filter 't/#/x', # stands alone in the last level (a/b/#)"),
    ("a/b+", "in topic filter 'a/b+', + stands alone in a level (a/+/c)"),
    ("", "a topic filter must not be empty"),
])
def test_a_topic_filter_the_standard_refuses_is_a_config_error(topic: str, expected: str) -> None:
    # paho refuses a subscription batch holding one such filter: every MQTT source on the link stopped counting.
    assert problems(MQTT_LINE.replace("TOPIC", topic)) == [f"line 10: lines[0].sources[0].topic: {expected}"]
    assert problems(MQTT_LINE.replace("TOPIC", "plant/+/line1/#")) == []


def test_text_no_page_can_show_is_a_config_error_on_its_line() -> None:
    text = BASE.replace("name: P,", 'name: "P\\ud800",')
    assert problems(text) == ["line 1: plant.name: holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
                              "write the character itself"]


def test_files_that_would_crash_or_flood_the_loader_are_config_errors(tmp_path: Path) -> None:
    bomb = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]"] + [
        f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9)}]" for i in range(1, 8)]
    cases = {
        "binary.yaml": (b"\xff\xfe\x00bad", "not UTF-8 text (byte 0xff at offset 0); save it as UTF-8"),
        "loop.yaml": (b"a: &a [*a]\n", "not valid config: a YAML alias refers to the value it is part of"),
        "bomb.yaml": ("\n".join(bomb).encode(),
                      "expands through YAML aliases to more than 100,000 values; write it out"),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ConfigError) as refused:
            load_config(path)
        assert [str(p) for p in refused.value.problems] == [f"file: (top): {expected}"]
