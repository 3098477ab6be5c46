"""Hostile messages to andon buttons: each is refused with a reason on /metrics, and the button lives on."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

from andon.andons import AndonError
from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from collector.outputs import ButtonRejects
from devices.buttons.mqtt import MqttAndonButton, MqttButtonConfig
from devices.buttons.serial_line import SerialAndonButton, SerialButtonConfig
from devices.connections import Connections
from tests.conftest import Mosquitto, wait_until
from tests.lights.conftest import RecordingActions
from tests.lights.test_button_mqtt_serial import T0, PtyBox, Running, publish

TOPIC = "plant/line1/andon-buttons"


def exported(button: object) -> dict[tuple[str, str], float]:
    """Return the button reject counters as /metrics exports them: (button, reason) -> value."""
    family = next(iter(ButtonRejects(SimpleNamespace(buttons=[button])).collect()))  # type: ignore[arg-type]
    return {(s.labels["button"], s.labels["reason"]): s.value for s in family.samples if s.name.endswith("_total")}


def box_button(mosquitto: Mosquitto, actions: RecordingActions, client_id: str) -> MqttAndonButton:
    """The MQTT button "box" of line1 (category quality) on the test broker."""
    config = MqttButtonConfig.model_validate({"type": "mqtt", "topic": TOPIC, "category": "quality", "id": "box"})
    settings = MqttConfig(host="127.0.0.1", port=mosquitto.port, client_id=client_id)
    return MqttAndonButton(config, "line1", actions, Connections(ManualClock(T0), mqtt=settings))


def test_mqtt_button_survives_hostile_payloads_and_still_raises(
    mosquitto: Mosquitto, actions: RecordingActions
) -> None:
    button = box_button(mosquitto, actions, "edge-hostile")
    running = Running(button)
    try:
        assert button.subscribed.wait(10)
        publish(mosquitto.port, TOPIC, [
            b'{"station": "st1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # killed paho's thread before
            b'{"station": NaN}',
            b'{"station": "\\ud800"}',
            b'{"station": "' + b"s" * 65 + b'"}',
            b'{"station": "st1", "action": 5}',
            b'{"station": 1' + b"0" * 400 + b"}",
            b"\xff\xfe",
            b"[1, 2]",
        ])
        publish(mosquitto.port, TOPIC, [json.dumps({"station": "st3"}).encode()])
        wait_until(lambda: len(actions.calls) == 1)
    finally:
        running.stop()
    assert actions.calls == [("raise", "line1", "st3", "quality", "button:box")]
    assert button.rejected == {
        "too_deep": 1, "not_finite": 1, "bad_text": 1, "bad_station": 1, "bad_action": 1,
        "out_of_range": 1, "not_utf8": 1, "not_an_object": 1,
    }
    assert exported(button)[("box", "too_deep")] == 1.0
    assert sum(exported(button).values()) == 8.0


def test_serial_button_refuses_control_bytes_and_long_names_with_a_reason(actions: RecordingActions) -> None:
    box = PtyBox()
    path = os.ttyname(box.slave)
    config = SerialButtonConfig.model_validate(
        {"type": "serial", "port": path, "station": "st3", "category": "quality"}
    )
    button = SerialAndonButton(config, "line1", actions, Connections(ManualClock(T0)))
    running = Running(button)
    try:
        assert button.port_open.wait(10)
        os.write(box.master, b"RAISE st\x01x\r\n\xff\xfe\r\nRAISE " + b"s" * 70 + b"\r\n" + b"x" * 300 + b"\nRAISE\r\n")
        answers = box.answers(5)
    finally:
        running.stop()
        box.close()
    assert answers == [
        "ERR not printable ASCII",
        "ERR not printable ASCII",
        "ERR station and category take at most 64 characters",
        "ERR line longer than 256 bytes",
        "OK RAISE st3 quality",
    ]
    assert button.rejected == {"not_text": 2, "bad_command": 1, "too_long": 1}
    assert actions.calls == [("raise", "line1", "st3", "quality", f"button:serial {path}")]


class RefusingActions(RecordingActions):
    """Actions refusing as the andon service does: an unknown station or category, with its reason word."""

    def raise_call(self, line: str, station: str, category: str, source: str) -> int:
        if category != "quality":
            raise AndonError(422, f"line {line!r} has no andon category {category!r}", "bad_category")
        if station != "st3":
            raise AndonError(422, f"line {line!r} has no station {station!r}", "bad_station")
        return super().raise_call(line, station, category, source)


def test_a_press_the_andon_service_refuses_is_counted_by_its_reason(mosquitto: Mosquitto) -> None:
    actions = RefusingActions()
    button = box_button(mosquitto, actions, "edge-refused")
    running = Running(button)
    try:
        assert button.subscribed.wait(10)
        publish(mosquitto.port, TOPIC, [json.dumps(p).encode() for p in (
            {"station": "s9"}, {"station": "st3", "category": "food"}, {"station": "st3"})])
        wait_until(lambda: len(actions.calls) == 1)
    finally:
        running.stop()
    assert button.rejected == {"bad_station": 1, "bad_category": 1}
    assert exported(button) == {("box", "bad_station"): 1.0, ("box", "bad_category"): 1.0}
