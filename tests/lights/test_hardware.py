"""Line hardware pieces: only the latest state is shown, in-process actions, the edge command's checks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from andon import cli
from andon.clock import ManualClock
from andon.config.bases import StackLightConfigBase
from andon.follow import stream_url
from andon.lights import DEFAULT_FAIL_SAFE, LightPattern
from andon.runtime import build_services
from collector.andon_actions import NoOpenCall, ServiceActions
from collector.line_hardware import LineHardware
from devices.connections import Connections
from devices.stack_light import StackLight
from tests.devices.polling import eventually
from tests.lights.conftest import RecordingActions
from tests.lights.test_end_to_end import CONFIG, SHIFT_START, make_config


class GatedLight(StackLight):
    """A stack light whose writes wait for a gate, like a Patlite tower that answers slowly."""

    def __init__(self, config: StackLightConfigBase, context: Connections) -> None:
        super().__init__(config, context)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = 0  # writes that found the gate closed
        self.writes: list[LightPattern] = []

    async def write(self, pattern: LightPattern) -> None:
        """Record the pattern once the gate opens."""
        if not self.gate.is_set():
            self.held += 1
        await self.gate.wait()
        self.writes.append(pattern)


def state(condition: str) -> dict[str, object]:
    """Return a line state with just a condition."""
    return {"line": "line1", "condition": condition, "open_andons": []}


def test_a_slow_light_shows_only_the_latest_of_a_burst(tmp_path: Path) -> None:
    """While one write hangs, 50 states arrive: the light then writes only the last, not a backlog."""

    async def scenario() -> list[LightPattern]:
        clock = ManualClock(SHIFT_START)
        hardware = LineHardware(make_config(tmp_path), RecordingActions(), clock, refresh_seconds=60)
        hardware.buttons.clear()  # this test is about the light
        light = GatedLight(StackLightConfigBase(), hardware.connections)
        hardware.lights["line1"] = light
        await hardware.start()
        try:
            for _ in range(100):
                await asyncio.sleep(0)
            light.gate.clear()
            hardware.state_listener("line1", state("normal"))
            await eventually(lambda: light.held == 1)  # the write of green hangs
            for i in range(49):
                hardware.state_listener("line1", state("warning" if i < 48 else "abnormal"))
            light.gate.set()
            for _ in range(100):
                await asyncio.sleep(0)
            return light.writes
        finally:
            await hardware.stop()

    assert asyncio.run(scenario()) == [DEFAULT_FAIL_SAFE, LightPattern(green="on"), LightPattern(red="on")]


def test_state_listener_from_another_thread_reaches_the_light(tmp_path: Path) -> None:
    """A listener called off the loop hands the state over to the loop."""

    async def scenario() -> list[LightPattern]:
        hardware = LineHardware(make_config(tmp_path), RecordingActions(), ManualClock(SHIFT_START))
        hardware.buttons.clear()
        light = GatedLight(StackLightConfigBase(), hardware.connections)
        hardware.lights["line1"] = light
        await hardware.start()
        try:
            await asyncio.to_thread(hardware.state_listener, "line1", state("warning"))
            for _ in range(100):
                await asyncio.sleep(0)
            return light.writes
        finally:
            await hardware.stop()

    assert asyncio.run(scenario())[-1] == LightPattern(yellow="on")


def test_service_actions_find_the_open_call_by_station_and_category(tmp_path: Path) -> None:
    """Acknowledge and resolve act on the open call of that station and category; none open: NoOpenCall."""
    services = build_services(make_config(tmp_path), ManualClock(SHIFT_START + 30))
    actions = ServiceActions(services.andons)
    try:
        with pytest.raises(NoOpenCall, match="no open andon call on line1 station 'st1' for 'quality'"):
            actions.acknowledge("line1", "st1", "quality", "button:b")
        first = actions.raise_call("line1", "st1", "quality", "button:b")
        other = actions.raise_call("line1", "st1", "material", "button:b")
        assert actions.raise_call("line1", " st1 ", "quality", "button:c")["id"] == first["id"]
        acked = actions.acknowledge("line1", " st1", "quality", "button:c")
        assert (acked["id"], acked["state"], acked["acknowledged_by"]) == (first["id"], "acknowledged", "button:c")
        resolved = actions.resolve("line1", "st1", "material", "button:d")
        assert (resolved["id"], resolved["state"]) == (other["id"], "resolved")
        with pytest.raises(NoOpenCall):
            actions.resolve("line1", "st1", "material", "button:d")
    finally:
        services.plant.close()
        services.store.engine.dispose()


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://10.0.0.2:8000", "ws://10.0.0.2:8000/ws"),
        ("http://10.0.0.2:8000/", "ws://10.0.0.2:8000/ws"),
        ("https://andon.plant.local", "wss://andon.plant.local/ws"),
        ("https://andon.plant.local/andon/", "wss://andon.plant.local/andon/ws"),
    ],
)
def test_stream_url(server: str, url: str) -> None:
    """The stream's URL follows the server's scheme and path."""
    assert stream_url(server) == url


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--line", "nope", "--server", "http://127.0.0.1:9"], "unknown line(s) ['nope']; the config has ['line1']"),
        (["--line", "line1", "--server", "10.0.0.2:8000"], "must start with http:// or https://"),
    ],
)
def test_edge_command_refuses_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    """`andon edge` with an unknown line or a server without a scheme exits 2 saying why."""
    path = tmp_path / "andon.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "andon.db", auth=""))
    assert cli.main(["edge", str(path), *extra]) == 2
    assert says in capsys.readouterr().err


DOCS = Path(__file__).resolve().parents[2] / "docs" / "lights.md"


def _words(cell: str) -> LightPattern:
    """Turn a docs cell like 'red flashing + buzzer pulsing' into a pattern."""
    verbs = {"on": "on", "flashing": "flash", "pulsing": "pulse"}
    outputs = {}
    for part in cell.split("+"):
        name, verb = part.split()
        outputs[name] = verbs[verb]
    return LightPattern.model_validate(outputs)


def test_docs_example_config_parses_and_its_override_applies() -> None:
    """docs/lights.md's example is a valid config; its material override shows yellow on a 3-colour tower."""
    from andon.config.loader import parse_config
    from andon.lights import PatternRules

    text = DOCS.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    light = parse_config(example).lines[0].stack_light
    assert light is not None
    rules = PatternRules(light.patterns, light.fail_safe)
    assert rules.for_call("material", "raised") == LightPattern(yellow="flash")
    assert rules.for_call("material", "acknowledged") == LightPattern(yellow="on")


def test_docs_call_table_matches_the_default_rules() -> None:
    """Each row of the documented andon call table is what the default rules show."""
    from andon.lights import PatternRules

    rules = PatternRules()
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("| category |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    assert len(table) == 3
    for row in table:
        category, raised, acknowledged, escalated = (c.strip() for c in row.strip("|").split("|"))
        assert rules.for_call(category, "raised") == _words(raised), category
        assert rules.for_call(category, "acknowledged") == _words(acknowledged), category
        assert rules.for_call(category, "raised", tier_index=1) == _words(escalated), category
