"""`andon collect` drives its line's MQTT stack light and MQTT andon button in the same process.

A real `andon serve` process, a real Mosquitto broker and `andon collect` as a process: the light
follows the server's /ws stream (takt 1 s, nothing made: abnormal, red on), a button message
raises one material call on the server (blue flashes on top), an acknowledge over the API
steadies it, and SIGTERM ends the edge with exit code 0, leaving the light in its fail-safe.
With ``--no-hardware`` the same edge forwards counts but publishes no pattern and takes no presses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Mosquitto, wait_until
from tests.edge.conftest import AndonProcess, EdgeProcess, mqtt_source, shift_around_now
from tests.mqtt.conftest import TestClient

LIGHT = "plant/line1/light"
BUTTON = "plant/line1/andon"
PARTS = "plant/line1/parts"

# One shift from an hour ago to three hours ahead, so none starts or ends during the test: with
# takt 1 s and zero thresholds the idle line is an hour behind, abnormal whatever the hour the test
# runs. The light rewrites an unchanged pattern only hourly, so every message on its topic is a change.
CONFIG = """
plant: {{name: Edge Hardware Plant, timezone: UTC}}
database: sqlite:///{db}
mqtt: {{host: 127.0.0.1, port: {port}, topic_prefix: andon}}
shifts:
  - {{id: run, start: "{start}", end: "{end}"}}
lines:
  - id: line1
    takt_seconds: 1
    thresholds: {{warning_behind: 0, abnormal_behind: 0}}
    sources:
{source}
    stack_light: {{type: mqtt, topic: {light}, refresh_seconds: 3600}}
    andon:
      buttons:
        - {{type: mqtt, id: st1-panel, topic: {button}}}
"""

FAIL_SAFE = {"yellow": "flash"}
RED = {"red": "on"}


def write_config(tmp_path: Path, broker: Mosquitto) -> Path:
    """Write the plant config (server database in ``tmp_path``) and return its path."""
    path = tmp_path / "plant.yaml"
    start, end = shift_around_now()
    path.write_text(CONFIG.format(db=tmp_path / "server.db", port=broker.port, source=mqtt_source(PARTS).rstrip("\n"),
                                  light=LIGHT, button=BUTTON, start=start, end=end))
    return path


@pytest.fixture
def broker(mosquitto: Mosquitto) -> Mosquitto:
    """The test broker, restarted with subscriptions in its log, so a test sees the button subscribe."""
    mosquitto.conf.write_text(mosquitto.conf.read_text() + "".join(
        f"log_type {kind}\n" for kind in ("error", "warning", "notice", "information", "subscribe")))
    mosquitto.restart()
    return mosquitto


def subscribed(broker: Mosquitto, topic: str) -> list[str]:
    """Return the broker's log lines (without the time stamp) of subscriptions to ``topic``."""
    lines = (broker.workdir / "mosquitto.log").read_text().splitlines()
    return [line.split(": ", 1)[1] for line in lines if line.endswith(f" {topic}")]


@pytest.fixture
def collect(tmp_path: Path) -> Iterator[Callable[..., EdgeProcess]]:
    """Make `andon collect --edge-id t1` processes (``extra`` arguments appended); each is stopped after the test."""
    made: list[EdgeProcess] = []

    def make(config: Path, server: str, *extra: str) -> EdgeProcess:
        proc = EdgeProcess(config, server, tmp_path / "edge-queue.db", ["line1"])
        proc.args[proc.args.index("e1")] = "t1"
        proc.args += list(extra)
        made.append(proc)
        proc.start()
        return proc

    yield make
    for proc in made:
        proc.stop()


class LightWatcher:
    """What the broker delivered on the light topic, as the lit outputs of each pattern."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        client.subscribe(LIGHT)

    def patterns(self) -> list[dict[str, str]]:
        """Return each published pattern's outputs that are not off, in order."""
        return [{k: v for k, v in json.loads(payload).items() if v != "off"}
                for _topic, payload, _retained in self.client.messages(LIGHT)]

    def wait_for(self, lit: dict[str, str], timeout: float = 10.0) -> list[dict[str, str]]:
        """Wait until the latest pattern is ``lit``; return every pattern so far."""
        wait_until(lambda: self.patterns()[-1:] == [lit], timeout=timeout)
        return self.patterns()


def server_parts(server: AndonProcess) -> int:
    """Return the good parts the server counted on line1 this shift."""
    return int(server.state()["actual_to_date"])


def test_collect_drives_the_light_and_raises_from_the_button(
    tmp_path: Path, broker: Mosquitto, andon_server: Callable[..., AndonProcess], collect: Callable[..., EdgeProcess],
    mqtt_client: Callable[..., TestClient],
) -> None:
    """Red for an idle line; a button press is one call and blue flashes; acknowledged, blue steady; SIGTERM: 0."""
    config = write_config(tmp_path, broker)
    server = andon_server(config)
    # A fresh server waits for a new line's first count before judging it (docs/products.md); this line
    # was scheduled all shift, so an idle line is stopped at once.
    shift_start = server.state()["shift"]["start"]
    httpx.put(f"{server.url}/api/lines/line1/schedule", json={"scheduled": True, "from": shift_start}, timeout=5)
    light = LightWatcher(mqtt_client("test-light-watcher"))
    panel = mqtt_client("test-panel")
    edge = collect(config, server.url)
    assert light.wait_for(RED) == [FAIL_SAFE, RED]  # fail-safe until the first state from /ws, then abnormal
    assert server.state()["condition"] == "abnormal"
    wait_until(lambda: bool(subscribed(broker, BUTTON)))
    assert subscribed(broker, BUTTON) == [f"andon-edge-t1-buttons-plant-line1-andon 1 {BUTTON}"]

    panel.publish(PARTS, json.dumps({"n": 3, "id": "press-test-1"}))  # counts still flow in the same process
    wait_until(lambda: server_parts(server) == 3)

    panel.publish(BUTTON, json.dumps({"station": "st1", "category": "material", "action": "raise"}))
    assert light.wait_for({"red": "on", "blue": "flash"}) == [FAIL_SAFE, RED, {"red": "on", "blue": "flash"}]
    calls = httpx.get(f"{server.url}/api/andons", timeout=5).json()
    assert [(c["line"], c["station"], c["category"], c["state"], c["tier_index"], c["note"]) for c in calls] == [
        ("line1", "st1", "material", "raised", 0, "raised by button:st1-panel"),
    ]
    reply = httpx.post(f"{server.url}/api/andons/{calls[0]['id']}/acknowledge", json={}, timeout=5)
    assert (reply.status_code, reply.json()["state"]) == (200, "acknowledged")
    assert light.wait_for({"red": "on", "blue": "on"})[3:] == [{"red": "on", "blue": "on"}]
    assert len(httpx.get(f"{server.url}/api/andons", timeout=5).json()) == 1

    assert edge.proc is not None
    edge.proc.terminate()
    assert edge.proc.wait(15) == 0
    edge.proc = None
    assert light.wait_for(FAIL_SAFE) == [FAIL_SAFE, RED, {"red": "on", "blue": "flash"}, {"red": "on", "blue": "on"},
                                         FAIL_SAFE]  # closing the light leaves it in its fail-safe
    log = edge.log.read_text()
    assert "running 1 stack light(s) and 1 andon button(s)" in log
    assert "Traceback" not in log


def test_collect_without_hardware_forwards_counts_and_leaves_light_and_button_alone(
    tmp_path: Path, broker: Mosquitto, andon_server: Callable[..., AndonProcess], collect: Callable[..., EdgeProcess],
    mqtt_client: Callable[..., TestClient],
) -> None:
    """--no-hardware: counts reach the server, no pattern is published, nobody subscribes to the button."""
    config = write_config(tmp_path, broker)
    server = andon_server(config)
    light = LightWatcher(mqtt_client("test-light-watcher"))
    panel = mqtt_client("test-panel")
    edge = collect(config, server.url, "--no-hardware")
    wait_until(lambda: bool(subscribed(broker, PARTS)))  # the count source subscribed: the edge is running
    panel.publish(PARTS, json.dumps({"n": 2, "id": "no-hw-1"}))
    wait_until(lambda: server_parts(server) == 2)
    panel.publish(BUTTON, json.dumps({"station": "st1", "category": "material", "action": "raise"}))
    panel.publish(PARTS, json.dumps({"n": 1, "id": "no-hw-2"}))
    wait_until(lambda: server_parts(server) == 3)
    assert edge.proc is not None
    edge.proc.terminate()
    assert edge.proc.wait(15) == 0
    edge.proc = None
    assert light.patterns() == []
    assert subscribed(broker, BUTTON) == []
    assert httpx.get(f"{server.url}/api/andons", timeout=5).json() == []
    assert "stack light" not in edge.log.read_text()
