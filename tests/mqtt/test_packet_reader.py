"""The whole-packet reader and the joined writes of the MQTT client: PUBLISH and PUBACK packets read from the
buffer without paho's per-byte reads, every other packet (or one not all here) left to paho, and what paho
queued written in one system call; against a socket pair and a real Mosquitto."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from andon.config.bases import MqttConfig
from devices.links.mqtt_client import BufferedSocket, Client, new_client
from tests.conftest import Mosquitto, wait_until


def publish(topic: str, payload: bytes, *, qos: int = 1, mid: int = 1, retain: bool = False) -> bytes:
    """Encode an MQTT 3.1.1 PUBLISH packet."""
    body = struct.pack(">H", len(topic)) + topic.encode() + (struct.pack(">H", mid) if qos else b"") + payload
    length, encoded = len(body), b""
    while True:
        byte, length = length & 0x7F, length >> 7
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return bytes([0x30 | (qos << 1) | int(retain)]) + encoded + body


def test_whole_publishes_and_pubacks_are_taken_and_the_first_other_packet_is_left() -> None:
    left, right = socket.socketpair()
    try:
        right.setblocking(False)
        buffered = BufferedSocket(right)
        suback = b"\x90\x03\x00\x01\x01"
        stream = (publish("a/b", b"12", mid=7) + b"\x40\x02\x01\x02" + publish("c", b"x" * 300, qos=0, retain=True)
                  + suback + publish("d", b"3"))
        left.sendall(stream)
        assert buffered.fill() == len(stream)
        taken = buffered.take_packets()
        assert [first for first, _ in taken] == [0x32, 0x40, 0x31]
        assert taken[1][1] == b"\x01\x02"
        assert taken[2][1] == b"\x00\x01c" + b"x" * 300  # a two-byte length read right
        assert buffered.buffered() == len(suback) + len(publish("d", b"3"))  # paho reads the SUBACK
        assert buffered.recv(len(suback)) == suback
        assert [first for first, _ in buffered.take_packets()] == [0x32]
    finally:
        left.close()
        right.close()


def test_a_packet_not_all_here_qos_2_or_malformed_is_left_to_paho() -> None:
    whole = publish("line/count", b'{"n":1}', mid=300)
    for cut in range(1, len(whole)):  # every place a read can end inside a packet
        left, right = socket.socketpair()
        try:
            right.setblocking(False)
            buffered = BufferedSocket(right)
            left.sendall(whole + whole[:cut])
            buffered.fill()
            assert len(buffered.take_packets()) == 1
            assert buffered.buffered() == cut
        finally:
            left.close()
            right.close()
    for kept in (publish("q2", b"1", qos=2), b"\x32\x03\x00\x09a", b"\x40\x03\x00\x01\x00", b"\x40\x02\x00"):
        left, right = socket.socketpair()
        try:
            right.setblocking(False)
            buffered = BufferedSocket(right)
            left.sendall(kept)
            buffered.fill()
            assert buffered.take_packets() == []  # QoS 2, a topic longer than its packet, odd or cut PUBACKs
            assert buffered.buffered() == len(kept)
        finally:
            left.close()
            right.close()


def test_every_message_reaches_the_reader_whole_and_in_order_whichever_reader_takes_it(tmp_path: Path) -> None:
    # Small messages come through the whole-packet reader; one larger than a read, and QoS 2, through paho's.
    broker = Mosquitto(tmp_path)
    broker.start()
    settings = MqttConfig.model_validate({"host": "127.0.0.1", "port": broker.port})
    reader, writer = new_client(settings, "reader", persistent=False), new_client(settings, "writer", persistent=False)
    assert isinstance(reader, Client)
    got: list[tuple[str, int, bytes, bool]] = []
    batches: list[int] = []
    subscribed = threading.Event()

    def keep(message: Any) -> None:
        got.append((message.topic, message.qos, bytes(message.payload), message.retain))

    def on_messages(_client: Any, messages: list[Any]) -> None:
        batches.append(len(messages))
        for message in messages:
            keep(message)

    reader.on_messages = on_messages
    acked: list[int] = []
    send_puback = reader._send_puback

    def count_ack(mid: int) -> Any:
        acked.append(mid)
        return send_puback(mid)

    reader._send_puback = count_ack  # type: ignore[method-assign]
    reader.on_message = lambda _c, _u, message: keep(message)
    reader.on_connect = lambda client, *_: client.subscribe("t/#", 2)
    reader.on_subscribe = lambda *_: subscribed.set()
    sizes = [5, 200_000, 7, 70_000, 1, *range(0, 3000, 7)]
    expected = []
    try:
        writer.connect("127.0.0.1", broker.port)
        writer.loop_start()
        writer.publish("t/old", b"kept", qos=1, retain=True).wait_for_publish(10)
        reader.connect("127.0.0.1", broker.port)
        reader.loop_start()
        assert subscribed.wait(10)
        wait_until(lambda: len(got) == 1, 10)
        infos = []
        for i, size in enumerate(sizes):
            qos = 2 if i % 50 == 3 else i % 2
            payload = (str(i).encode() * size)[:size]
            infos.append(writer.publish(f"t/{i % 3}", payload, qos=qos))
            expected.append((f"t/{i % 3}", qos, payload, False))
        for info in infos:
            info.wait_for_publish(10)
        wait_until(lambda: len(got) == 1 + len(sizes), 20)
        assert got[0] == ("t/old", 1, b"kept", True)
        by_topic = {t: [g for g in got[1:] if g[0] == t] for t in ("t/0", "t/1", "t/2")}
        for topic, messages in by_topic.items():
            sent = [e for e in expected if e[0] == topic]
            assert sorted(messages) == sorted(sent)  # every one whole, once
            # in order per topic (QoS 2 messages come on the broker's release, so their order is their own)
            assert [m for m in messages if m[1] < 2] == [e for e in sent if e[1] < 2]
        # Most came through the whole-packet reader (each read cuts one packet at most, which paho's finishes)
        assert sum(batches) >= len(sizes) // 2
        # Without manual acknowledgement, each QoS 1 message is acknowledged once, whichever reader took it
        assert len(acked) == len(set(acked)) == 1 + sum(1 for e in expected if e[1] == 1)
        # The broker's PUBACKs, taken by the whole-packet reader too: every publish of the reader's is told
        # published once, and none stays in flight.
        published: list[int] = []
        reader.on_publish = lambda _c, _u, mid, *_: published.append(mid)
        mine = [reader.publish("elsewhere", str(i), qos=1) for i in range(500)]
        wait_until(lambda: all(info.is_published() for info in mine), 10)
        assert sorted(published) == sorted(info.mid for info in mine)
        assert reader._out_messages == {} and reader._inflight_messages == 0
    finally:
        for client in (reader, writer):
            client.loop_stop()
            client.disconnect()
        broker.stop()


class CountingSocket:
    """A socket pair end that counts its sends."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends = 0

    def send(self, data: bytes) -> int:
        self.sends += 1
        return self.sock.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def test_what_paho_queued_goes_out_in_one_write_and_a_qos_0_publish_is_still_reported() -> None:
    left, right = socket.socketpair()
    try:
        client = Client(callback_api_version=paho.CallbackAPIVersion.VERSION2, client_id="w", protocol=paho.MQTTv311)
        counting = CountingSocket(right)
        client._sock = counting  # type: ignore[assignment]
        client.on_socket_register_write = lambda *_: None  # queue without writing, as the loop driver does
        published: list[int] = []
        client.on_publish = lambda _c, _u, mid, *_: published.append(mid)
        for mid in range(1, 51):
            client._send_puback(mid)
        info = paho.MQTTMessageInfo(99)
        client._send_publish(99, b"q0", b"x", 0, info=info)
        client._send_puback(51)
        assert counting.sends == 0
        client.loop_write()
        left.setblocking(False)
        data = left.recv(65536)
        acks = b"".join(b"\x40\x02" + struct.pack(">H", m) for m in range(1, 51))
        assert data == acks + publish("q0", b"x", qos=0) + b"\x40\x02\x00\x33"
        assert counting.sends == 3  # 50 acks joined, the QoS 0 publish alone (paho reports it), the last ack
        assert published == [99] and info.is_published()
        assert not client.want_write()
    finally:
        left.close()
        right.close()
