"""The buffered client socket: one system call brings every packet the kernel holds, and paho is told of them."""

from __future__ import annotations

import socket

import pytest

from devices.links.mqtt_client import BufferedSocket


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
