"""MQTT andon buttons on a real Mosquitto broker; serial andon buttons on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import tty
from collections.abc import Callable, Coroutine
from typing import Any

import paho.mqtt.client as paho
import pytest

from andon.clock import ManualClock
from andon.config.bases import MqttConfig
from devices.andon_button import AndonButton
from devices.buttons.mqtt import MqttAndonButton, MqttButtonConfig
from devices.buttons.serial_line import SerialAndonButton, SerialButtonConfig
from devices.connections import Connections
from tests.conftest import Mosquitto, wait_until
from tests.lights.conftest import RecordingActions

T0 = 1_800_000_000.0


class Running:
    """Run a button's ``run()`` in its own event loop thread; stop it by cancelling."""

    def __init__(self, button: AndonButton) -> None:
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._main, args=(button.run,), daemon=True)
        self.thread.start()

    def _main(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(run())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    def stop(self) -> None:
        """Cancel the button and wait for its thread."""
        wait_until(lambda: self.task is not None)
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.task.cancel)  # type: ignore[union-attr]
        self.thread.join(10)
        assert not self.thread.is_alive()


def publish(port: int, topic: str, payloads: list[bytes]) -> None:
    """Publish payloads at QoS 1 from a separate client and wait for the broker to take them."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="box-st3")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_mqtt_button_messages_become_actions(mosquitto: Mosquitto, actions: RecordingActions) -> None:
    """Raise (defaults filled), a chattering repeat dropped, acknowledge, resolve, junk rejected."""
    clock = ManualClock(T0)
    config = MqttButtonConfig.model_validate(
        {"type": "mqtt", "topic": "plant/line1/andon-buttons", "category": "quality", "id": "box"}
    )
    settings = MqttConfig(host="127.0.0.1", port=mosquitto.port, client_id="edge1")
    button = MqttAndonButton(config, "line1", actions, Connections(clock, mqtt=settings))
    running = Running(button)
    try:
        assert button.subscribed.wait(10)
        publish(
            mosquitto.port,
            "plant/line1/andon-buttons",
            [
                json.dumps({"station": "st3"}).encode(),
                json.dumps({"station": "st3", "action": "raise"}).encode(),  # chatter: dropped
                b"not json",
                json.dumps({"station": "st3", "action": "explode"}).encode(),
                json.dumps({"action": "raise"}).encode(),  # no station anywhere
            ],
        )
        # The broker took the batch; the button reads it in order, so once the last one is refused all were read
        # (the repeat among them at T0, inside the guard time). Only then may the clock move on.
        wait_until(lambda: sum(button.rejected.values()) == 3)
        clock.set(T0 + 5)
        publish(
            mosquitto.port,
            "plant/line1/andon-buttons",
            [
                json.dumps({"station": "st3", "category": "quality", "action": "acknowledge"}).encode(),
                json.dumps({"station": "st4", "category": "material", "action": "resolve"}).encode(),
            ],
        )
        wait_until(lambda: len(actions.calls) >= 3)
    finally:
        running.stop()
    assert actions.calls == [
        ("raise", "line1", "st3", "quality", "button:box"),
        ("acknowledge", "line1", "st3", "quality", "button:box"),
        ("resolve", "line1", "st4", "material", "button:box"),
    ]


class PtyBox:
    """The station box's end of a pseudo-terminal: writes commands, collects answer lines."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.received = b""

    def answers(self, count: int) -> list[str]:
        """Wait for ``count`` answer lines in all and return them."""
        wait_until(lambda: self._read().count(b"\r\n") >= count)
        return self.received.decode().split("\r\n")[:count]

    def _read(self) -> bytes:
        with contextlib.suppress(BlockingIOError):
            self.received += os.read(self.master, 4096)
        return self.received

    def close(self) -> None:
        """Close both ends."""
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.usefixtures("files_past_1023")
def test_a_serial_button_opened_past_descriptor_1023_is_read(actions: RecordingActions) -> None:
    box = PtyBox()
    try:
        config = SerialButtonConfig.model_validate(
            {"type": "serial", "port": os.ttyname(box.slave), "station": "st3", "category": "quality"}
        )
        button = SerialAndonButton(config, "line1", actions, Connections(ManualClock(T0)))
        running = Running(button)
        try:
            assert button.port_open.wait(10)
            os.write(box.master, b"RAISE\r\n")
            assert box.answers(1) == ["OK RAISE st3 quality"]
            os.write(box.master, b"FLY\r\n")  # read and answered again: the first answer's write ended well
            assert box.answers(2)[1:] == ["ERR unknown command 'FLY'; expected RAISE, ACK or RESOLVE"]
        finally:
            running.stop()
    finally:
        box.close()
    assert [call[0] for call in actions.calls] == ["raise"]


def test_serial_button_lines_become_actions_with_answers(actions: RecordingActions) -> None:
    """RAISE/ACK/RESOLVE lines act and are answered; junk gets ERR; a repeat raise is dropped."""
    box = PtyBox()
    path = os.ttyname(box.slave)
    clock = ManualClock(T0)
    config = SerialButtonConfig.model_validate(
        {"type": "serial", "port": path, "station": "st3", "category": "quality"}
    )
    button = SerialAndonButton(config, "line1", actions, Connections(clock))
    running = Running(button)
    try:
        assert button.port_open.wait(10)
        os.write(box.master, b"RAISE\r\n")
        assert box.answers(1) == ["OK RAISE st3 quality"]
        os.write(box.master, b"raise st3 quality\nFLY st3\nACK st3 quality junk extra\n")
        assert box.answers(4)[1:] == [
            "ERR RAISE st3 quality refused",
            "ERR unknown command 'FLY'; expected RAISE, ACK or RESOLVE",
            "ERR too many words in 'ACK st3 quality junk extra'; expected COMMAND [station [category]]",
        ]
        clock.set(T0 + 2)
        os.write(box.master, b"ACK\r\nRESOLVE st4 mat")
        os.write(box.master, b"erial\r\n")
        assert box.answers(6)[4:] == ["OK ACK st3 quality", "OK RESOLVE st4 material"]
    finally:
        running.stop()
        box.close()
    source = f"button:serial {path}"
    assert actions.calls == [
        ("raise", "line1", "st3", "quality", source),
        ("acknowledge", "line1", "st3", "quality", source),
        ("resolve", "line1", "st4", "material", source),
    ]
