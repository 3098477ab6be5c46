"""OPC UA sources sharing one session per server, and nsu= node ids, against a real asyncua server.

The server registers a namespace before the line's, so the line's index is 3, and caps its connections
at 3 (asyncua's ``max_connections``); the test first proves the cap is enforced by that server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from andon.clock import ManualClock
from devices.connections import Connections
from devices.links.opcua import OpcuaEndpoint, refusal_text
from devices.sources.opcua import OpcuaSource, OpcuaSourceConfig
from tests.conftest import RecordingSink, free_port
from tests.devices.polling import cancel, stepping
from tests.devices.test_opcua import UaServer

T0 = 1_764_320_400.0
LINE_NS = "urn:andon:test:line"
CAP = 3
COUNTERS = 5  # more sources than the server takes connections


class CappedServer(UaServer):
    """An asyncua server with the line's namespace at index 3, five counters and at most 3 connections."""

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        assert await server.register_namespace("urn:andon:test:other") == 2
        ns = await server.register_namespace(LINE_NS)
        assert ns == 3
        line = await server.nodes.objects.add_object(ns, "Line1")
        for n in range(COUNTERS):
            node = ua.NodeId(f"Counter{n}", ns, ua.NodeIdType.String)
            value = ua.Variant(100 * n, ua.VariantType.Int32)
            self.variables[f"Counter{n}"] = await line.add_variable(node, f"Counter{n}", value)
        server.iserver.max_connections = CAP
        await server.start()
        self.server = server


@pytest.fixture(scope="module")
def capped() -> Iterator[CappedServer]:
    """One capped server for the module."""
    server = CappedServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()


def source(url: str, node: str, shared: Connections, sink: RecordingSink, **keys: Any) -> OpcuaSource:
    """A cumulative source on ``node`` with short periods."""
    config = OpcuaSourceConfig.model_validate({
        "type": "opcua", "url": url, "node": node, "mode": "cumulative", "poll_seconds": 0.05,
        "timeout_seconds": 2.0, "reconnect_max_seconds": 0.2, **keys,
    })
    return OpcuaSource(config, sink, shared)


def test_the_server_enforces_its_connection_cap(capped: CappedServer) -> None:
    """Three plain clients connect; the fourth is refused by the server."""
    from asyncua import Client

    async def scenario() -> None:
        clients = [Client(capped.url, timeout=2) for _ in range(CAP + 1)]
        connected = []
        try:
            for client in clients[:CAP]:
                await client.connect()
                connected.append(client)
            with pytest.raises(Exception):  # noqa: B017 - the server drops the socket; asyncua's error varies
                await clients[CAP].connect()
        finally:
            for client in connected:
                await client.disconnect()

    asyncio.run(scenario())


@pytest.mark.parametrize("subscribe", [True, False], ids=["subscription", "poll"])
def test_more_sources_than_the_cap_share_one_session(capped: CappedServer, subscribe: bool) -> None:
    """Five sources on one server (nsu= node ids): each reads its own counter through one session."""

    async def scenario() -> None:
        shared = Connections(ManualClock(T0))
        sinks = [RecordingSink() for _ in range(COUNTERS)]
        sources = [source(capped.url, f"nsu={LINE_NS};s=Counter{n}", shared, sink, subscribe=subscribe)
                   for n, sink in enumerate(sinks)]
        tasks = [asyncio.create_task(s.run()) for s in sources]
        try:
            await stepping(shared.clock,  # type: ignore[arg-type]
                           lambda: all(s.values() for s in sinks), *tasks, timeout=30)
            links = {id(s.link) for s in sources}
            made = sources[0].link.sessions_made if sources[0].link else -1
        finally:
            for task in tasks:
                await cancel(task)
        assert [s.values()[0] for s in sinks] == [100 * n for n in range(COUNTERS)]
        assert all(s.events == [("online", "")] for s in sinks)
        assert len(links) == 1 and made == 1
        assert len(shared.opcua) == 0  # the last source closed the session

    asyncio.run(scenario())


def test_an_unknown_namespace_uri_is_named(capped: CappedServer) -> None:
    """nsu= with a URI the server does not have: offline, the reason lists the server's namespaces."""

    async def scenario() -> None:
        shared = Connections(ManualClock(T0))
        sink = RecordingSink()
        task = asyncio.create_task(source(capped.url, "nsu=urn:nowhere;s=Counter0", shared, sink).run())
        try:
            await stepping(shared.clock, lambda: bool(sink.events), task)  # type: ignore[arg-type]
        finally:
            await cancel(task)
        assert sink.events[0][0] == "offline"
        prefix = f"OPC UA server {capped.url} has no namespace 'urn:nowhere' (its namespaces: "
        assert sink.events[0][1].startswith(prefix)
        assert LINE_NS in sink.events[0][1]

    asyncio.run(scenario())


def test_a_certificate_refusal_names_the_certificate_and_policy() -> None:
    """A refusal whose status code is about the certificate says which certificate, policy and URI."""
    from asyncua.ua.uaerrors import BadCertificateUriInvalid

    endpoint = OpcuaEndpoint("opc.tcp://plc:4840", "Basic256Sha256,SignAndEncrypt,cert.der,key.pem",
                             application_uri="urn:plant:andon")
    assert refusal_text(endpoint, BadCertificateUriInvalid()) == (
        "OPC UA server opc.tcp://plc:4840 refused the client certificate cert.der (security policy "
        f"Basic256Sha256, mode SignAndEncrypt, application URI urn:plant:andon): {BadCertificateUriInvalid()}"
    )
    assert refusal_text(OpcuaEndpoint("opc.tcp://plc:4840"), TimeoutError()) == (
        "OPC UA server opc.tcp://plc:4840 unreachable: TimeoutError"
    )
