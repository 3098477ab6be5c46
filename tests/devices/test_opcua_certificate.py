"""An OPC UA server that checks the client certificate's application URI (asyncua, Basic256Sha256)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.clock import ManualClock
from devices.connections import Connections
from devices.sources.opcua import OpcuaSource, OpcuaSourceConfig
from tests.conftest import RecordingSink, free_port
from tests.devices.polling import cancel, stepping
from tests.devices.test_opcua import UaServer

T0 = 1_764_320_400.0
PLANT_URI = "urn:plant:leeds:andon"


def make_certificate(folder: Path, name: str, uri: str, server: bool) -> tuple[Path, Path]:
    """Write a self-signed application certificate (DER) and key (PEM) for ``uri``."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key, cert = folder / f"{name}-key.pem", folder / f"{name}-cert.der"
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    asyncio.run(setup_self_signed_certificate(key, cert, uri, socket.gethostname(), use, {"commonName": name}))
    return cert, key


class SecureServer(UaServer):
    """Basic256Sha256 SignAndEncrypt only; the client certificate's URI must be the client's application URI."""

    def __init__(self, port: int, cert: Path, key: Path) -> None:
        super().__init__(port)
        self.cert, self.key = cert, key

    async def _start(self) -> None:
        from asyncua import Server, ua
        from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        await server.load_certificate(str(self.cert))
        await server.load_private_key(str(self.key))
        server.set_certificate_validator(CertificateValidator(
            CertificateValidatorOptions.URI | CertificateValidatorOptions.PEER_CLIENT))
        ns = await server.register_namespace("urn:andon:test")
        line = await server.nodes.objects.add_object(ns, "Line1")
        node = ua.NodeId("Counter", ns, ua.NodeIdType.String)
        self.variables["Counter"] = await line.add_variable(node, "Counter", ua.Variant(77, ua.VariantType.Int32))
        await server.start()
        self.server = server


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SecureServer, Path, Path]]:
    """A secure server, and a client certificate made for the plant's URI."""
    folder = tmp_path_factory.mktemp("pki")
    server_cert, server_key = make_certificate(folder, "server", "urn:andon:test:server", server=True)
    client_cert, client_key = make_certificate(folder, "client", PLANT_URI, server=False)
    server = SecureServer(free_port(), server_cert, server_key)
    server.start()
    try:
        yield server, client_cert, client_key
    finally:
        server.close()


def run_source(url: str, **keys: Any) -> RecordingSink:
    """Run one cumulative source until it reports, and return its sink."""

    async def scenario() -> RecordingSink:
        shared = Connections(ManualClock(T0))
        sink = RecordingSink()
        config = OpcuaSourceConfig.model_validate({
            "type": "opcua", "url": url, "node": "ns=2;s=Counter", "mode": "cumulative", "poll_seconds": 0.05,
            "timeout_seconds": 4.0, "reconnect_max_seconds": 0.2, **keys,
        })
        task = asyncio.create_task(OpcuaSource(config, sink, shared).run())
        try:
            await stepping(shared.clock, lambda: bool(sink.events), task, timeout=30)  # type: ignore[arg-type]
        finally:
            await cancel(task)
        return sink

    return asyncio.run(scenario())


def test_a_certificate_for_another_uri_is_refused_naming_the_certificate(
    secure: tuple[SecureServer, Path, Path],
) -> None:
    """Without application_uri the client presents asyncua's URI: BadCertificateUriInvalid, named as such."""
    server, cert, key = secure
    sink = run_source(server.url, security=f"Basic256Sha256,SignAndEncrypt,{cert},{key}")
    kind, reason = sink.events[0]
    assert kind == "offline"
    assert reason.startswith(
        f"OPC UA server {server.url} refused the client certificate {cert} (security policy Basic256Sha256, "
        "mode SignAndEncrypt, application URI asyncua's default application URI): "
    )
    assert "BadCertificateUriInvalid" in reason


def test_the_application_uri_of_the_certificate_is_accepted(secure: tuple[SecureServer, Path, Path]) -> None:
    """With application_uri set to the certificate's URI the session opens and the counter reads."""
    server, cert, key = secure
    sink = run_source(server.url, security=f"Basic256Sha256,SignAndEncrypt,{cert},{key}", application_uri=PLANT_URI)
    assert sink.events == [("online", "")]
    assert sink.values()[:1] == [77]
