"""Fixtures for the MQTT tests: test clients on the real broker and a runner for async sources."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest

from devices.base import CountSource
from tests.conftest import Mosquitto, wait_until


class TestClient:
    """A plain paho client on the test broker that publishes and records what it receives."""

    __test__ = False

    def __init__(self, broker: Mosquitto, client_id: str, *, persistent: bool = False) -> None:
        self.client = paho.Client(
            callback_api_version=paho.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
        )
        self.client.reconnect_delay_set(1, 2)
        self.received: list[tuple[str, bytes, bool]] = []
        self.qos: list[tuple[str, int]] = []  # (topic, QoS delivered) of each message, in order
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.connect("127.0.0.1", broker.port, keepalive=10, clean_start=paho.MQTT_CLEAN_START_FIRST_ONLY)
        self.client.loop_start()
        assert self.connected.wait(5), "test client did not connect"

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self.connected.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.lock:
            self.received.append((message.topic, bytes(message.payload), bool(message.retain)))
            self.qos.append((message.topic, int(message.qos)))

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait for the broker's answer."""
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, 1)
        assert done.wait(5), "no SUBACK"

    def publish(self, topic: str, payload: bytes | str, *, wait: bool = True) -> paho.MQTTMessageInfo:
        """Publish at QoS 1; by default wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1)
        if wait:
            info.wait_for_publish(5)
        return info

    def messages(self, topic: str | None = None) -> list[tuple[str, bytes, bool]]:
        """Return what arrived so far, optionally on one topic."""
        with self.lock:
            return [m for m in self.received if topic is None or m[0] == topic]

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_client(mosquitto: Mosquitto) -> Iterator[Callable[..., TestClient]]:
    """Make test clients on the broker; all are closed at the end of the test."""
    made: list[TestClient] = []

    def make(client_id: str = "", *, persistent: bool = False) -> TestClient:
        client = TestClient(mosquitto, client_id, persistent=persistent)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


class SourceRunner:
    """Run count sources' ``run()`` on an event loop in a thread, so a test can start and stop them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, source: CountSource) -> asyncio.Task[None]:
        """Start a source's run() task."""

        async def create() -> asyncio.Task[None]:
            return asyncio.create_task(source.run())

        task = asyncio.run_coroutine_threadsafe(create(), self.loop).result(5)
        self.tasks.append(task)
        return task

    def stop(self, task: asyncio.Task[None]) -> None:
        """Cancel a source's task and wait until it has cleaned up."""
        self.loop.call_soon_threadsafe(task.cancel)

        async def finished() -> None:
            await asyncio.wait([task])

        asyncio.run_coroutine_threadsafe(finished(), self.loop).result(10)
        self.tasks.remove(task)

    def close(self) -> None:
        """Stop every task still running and the loop."""
        for task in list(self.tasks):
            self.stop(task)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def runner() -> Iterator[SourceRunner]:
    """Run sources in a background event loop; everything is stopped after the test."""
    r = SourceRunner()
    yield r
    r.close()


__all__ = ["SourceRunner", "TestClient", "wait_until"]
