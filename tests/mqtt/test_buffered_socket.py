"""The buffered client socket: one system call brings every packet the kernel holds, and paho is told of them;
plain and through TLS to a real Mosquitto."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from andon.config.bases import MqttConfig
from devices.links.mqtt_client import BufferedSocket, Client, new_client
from devices.links.mqtt_loop import LoopDriver
from tests.conftest import Mosquitto, wait_until


def test_small_reads_come_from_one_receive_and_pending_counts_what_is_left() -> None:
    left, right = socket.socketpair()
    try:
        right.setblocking(False)
        buffered = BufferedSocket(right)
        left.sendall(b"\x30\x05hello\x30\x02ok")
        assert buffered.recv(1) == b"\x30"
        assert (buffered.buffered(), buffered.pending()) == (10, 10)
        assert buffered.recv(1) == b"\x05"
        assert buffered.recv(5) == b"hello"
        assert buffered.recv(100) == b"\x30\x02ok"  # never more than what is there
        assert buffered.pending() == 0
        with pytest.raises(BlockingIOError):
            buffered.recv(1)  # nothing in memory, nothing in the kernel
        left.sendall(b"xy")
        assert buffered.recv(2) == b"xy"  # a read that fits is handed over whole, nothing kept
        assert buffered.buffered() == 0
        assert buffered.fileno() == right.fileno()  # everything else is the real socket's
    finally:
        left.close()
        right.close()


def test_a_closed_peer_reads_as_the_end() -> None:
    left, right = socket.socketpair()
    buffered = BufferedSocket(right)
    left.sendall(b"ab")
    left.close()
    assert buffered.recv(1) == b"a"
    assert buffered.recv(1) == b"b"
    assert buffered.recv(1) == b""
    right.close()


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """Write a CA and a server certificate for 127.0.0.1 signed by it; return (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return paths


class TlsPeers:
    """A started TLS Mosquitto, a reader that subscribes to tls/# on connecting and keeps each payload as a number,
    and a writer; neither client connected yet."""

    def __init__(self, folder: Path, reader_id: str, writer_id: str) -> None:
        ca, cert, key = _tls_files(folder)
        self.broker = Mosquitto(folder)
        with self.broker.conf.open("a") as conf:
            conf.write(f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
        self.broker.start()
        settings = MqttConfig.model_validate({"host": "127.0.0.1", "port": self.broker.port, "tls": True,
                                              "ca_file": str(ca)})
        self.reader = new_client(settings, reader_id, persistent=False)
        self.writer = new_client(settings, writer_id, persistent=False)
        self.got: list[int] = []
        self.subscribed = threading.Event()
        self.reader.on_connect = lambda client, *_: client.subscribe("tls/#", 1)
        self.reader.on_subscribe = lambda *_: self.subscribed.set()
        self.reader.on_message = lambda _client, _userdata, message: self.got.append(int(message.payload))


def test_a_tls_broker_delivers_every_message_in_order_through_the_buffer(tmp_path: Path) -> None:
    peers = TlsPeers(tmp_path, "tls-reader", "tls-writer")
    broker, reader, writer, got, subscribed = peers.broker, peers.reader, peers.writer, peers.got, peers.subscribed
    try:
        reader.connect("127.0.0.1", broker.port)
        reader.loop_start()
        assert subscribed.wait(10)
        sock = reader.socket()
        assert isinstance(sock, BufferedSocket) and isinstance(sock.sock, ssl.SSLSocket)
        writer.connect("127.0.0.1", broker.port)
        writer.loop_start()
        for info in [writer.publish("tls/counts", str(i), qos=1) for i in range(3000)]:
            info.wait_for_publish(10)
        wait_until(lambda: len(got) == 3000, 20)
        assert got == list(range(3000))  # TLS records cut packets anywhere: every one whole, once, in order
    finally:
        for client in (reader, writer):
            client.loop_stop()
            client.disconnect()
        broker.stop()


def test_an_event_loop_drives_a_tls_client_through_the_buffer(tmp_path: Path) -> None:
    # As `andon run` drives its clients: no paho thread, reads when the selector says readable (TLS records
    # cut packets anywhere), writes queued by paho once a pass; every message whole, once, in order, and the
    # socket closed with the driver.
    peers = TlsPeers(tmp_path, "tls-loop-reader", "tls-loop-writer")
    broker, reader, writer, got, subscribed = peers.broker, peers.reader, peers.writer, peers.got, peers.subscribed

    async def scenario() -> None:
        assert isinstance(reader, Client)
        driver = LoopDriver(reader, asyncio.get_running_loop(), on_connect_failed=lambda: None,
                            closing=lambda: False, orphaned=lambda _driver: None)
        reader.connect_async("127.0.0.1", broker.port)
        driver.start()
        await asyncio.to_thread(subscribed.wait, 10)
        assert not any(t.name.startswith("paho") for t in threading.enumerate())  # the loop drives the reader
        sock = reader.socket()
        assert isinstance(sock, BufferedSocket) and isinstance(sock.sock, ssl.SSLSocket)
        writer.connect("127.0.0.1", broker.port)
        writer.loop_start()
        for info in [writer.publish("tls/counts", str(i), qos=1) for i in range(3000)]:
            await asyncio.to_thread(info.wait_for_publish, 10)
        for _ in range(200):
            if len(got) == 3000:
                break
            await asyncio.sleep(0.1)
        driver.close()
        assert reader.socket() is None

    try:
        asyncio.run(scenario())
        assert got == list(range(3000))
    finally:
        writer.loop_stop()
        writer.disconnect()
        broker.stop()
