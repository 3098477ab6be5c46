"""OPC UA count source: one variable node, by data-change subscription or by polling."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from andon.config.bases import SourceConfigBase
from andon.extras import ASYNCUA
from devices.base import CountSource, RisingEdge, SourceAvailability
from devices.catalog import Driver
from devices.connections import Connections
from devices.links.opcua import OpcuaEndpoint, OpcuaFault, OpcuaLink, OpcuaUnreachable

log = logging.getLogger(__name__)

NODE_ID = re.compile(r"^(ns=\d+;|nsu=[^;]+;)?[isgb]=.+$")
SECURITY_MODES = ("Sign", "SignAndEncrypt")


class OpcuaSourceConfig(SourceConfigBase):
    """A counter (or part-done flag) exposed as a variable by an OPC UA server."""

    reference_notes: ClassVar[str] = r"""
**Addressing.** `node` is an OPC UA NodeId in its string form, a namespace and an identifier:

| form | meaning | example |
|---|---|---|
| `ns=<index>;s=<name>` | string identifier | `ns=2;s=Line1.Counter`; Siemens S7-1500: `ns=3;s="DB_Line"."Count"` |
| `ns=<index>;i=<number>` | numeric identifier | `ns=2;i=1001` |
| `ns=<index>;g=<guid>` | GUID identifier | `ns=2;g=5CE9DBCE-5D79-434C-9AC3-1CFBA9A6E92C` |
| `ns=<index>;b=<base64>` | opaque (byte string) identifier | `ns=2;b=M/RbKBsRVkePCePcx24oRA==` |
| `nsu=<uri>;s=<name>` | the namespace by its URI instead of its index | `nsu=urn:plc1:line;s=Counter` |

Without `ns=` the namespace is 0 (the standard's own nodes). A server may renumber its namespaces
after a change; `nsu=` survives that. Find the node id by browsing the server with an OPC UA client.

```yaml
- {type: opcua, id: counter, url: "opc.tcp://10.0.0.7:4840", node: "ns=2;s=Line1.Counter", mode: cumulative}
```
"""

    type: Literal["opcua"] = "opcua"
    url: str = Field(..., description="Server endpoint, such as opc.tcp://10.0.0.9:4840.")
    node: str = Field(
        ..., description='Node id of the variable, such as "ns=2;i=2" or "ns=2;s=Line1.Counter".'
    )
    subscribe: bool = Field(
        True, description="true: the server pushes changes (data-change subscription); false: poll."
    )
    poll_seconds: float = Field(
        1.0,
        gt=0,
        description="Poll mode: time between reads. Subscribe mode: publishing interval and "
        "the period of the connection check.",
    )
    timeout_seconds: float = Field(4.0, gt=0, description="How long to wait for an answer.")
    reconnect_max_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait between reconnect attempts (the wait doubles from poll_seconds).",
    )
    security: str | None = Field(
        None,
        description='asyncua security string "Policy,Mode,certificate,private_key[,server_certificate]", '
        'such as "Basic256Sha256,SignAndEncrypt,cert.pem,key.pem"; none: no security.',
    )
    application_uri: str | None = Field(
        None,
        description="The client's application URI, as written in its certificate's subject alternative name "
        "(servers refuse a certificate made for another URI: BadCertificateUriInvalid); default: asyncua's.",
    )
    username: str | None = Field(None, description="User name, if the server asks for one.")
    password: str | None = Field(None, description="Password for username.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not url.startswith("opc.tcp://") or len(url) <= len("opc.tcp://"):
            raise ValueError(f"an OPC UA url starts with opc.tcp:// and names a host, not {url!r}")
        return url

    @field_validator("node")
    @classmethod
    def _check_node(cls, node: str) -> str:
        if not NODE_ID.match(node):
            raise ValueError(
                f'{node!r} is not a node id: write it like "ns=2;i=2" or "ns=2;s=Counter"'
            )
        return node

    @field_validator("security")
    @classmethod
    def _check_security(cls, security: str | None) -> str | None:
        if security is None:
            return None
        parts = security.split(",")
        if len(parts) not in (4, 5) or parts[1] not in SECURITY_MODES:
            raise ValueError(
                "security is 'Policy,Mode,certificate,private_key[,server_certificate]' with Mode "
                f"Sign or SignAndEncrypt, not {security!r}"
            )
        return security


SourceFault = OpcuaFault
ServerUnreachable = OpcuaUnreachable


def epoch_seconds(stamp: datetime | None, fallback: float) -> float:
    """Return a source timestamp as epoch seconds (naive means UTC), or ``fallback`` if absent."""
    if stamp is None:
        return fallback
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


class OpcuaSource(CountSource):
    """Read one OPC UA variable and hand each value to the sink, reconnecting on loss."""

    libraries = (ASYNCUA,)

    config: OpcuaSourceConfig

    def __init__(self, config: OpcuaSourceConfig, sink: Any, connections: Connections) -> None:
        super().__init__(config, sink, connections)
        self.availability = SourceAvailability(sink, log, self.describe())
        self._flag = RisingEdge()
        self._answered = False
        self.link: OpcuaLink | None = None

    def endpoint(self) -> OpcuaEndpoint:
        """Return what this source's session is made of; sources with equal endpoints share one session."""
        c = self.config
        return OpcuaEndpoint(c.url, c.security, c.username, c.password, c.application_uri, c.timeout_seconds)

    async def run(self) -> None:
        """Read through the server's shared session; after a fault wait (doubling) and read again."""
        from asyncua import ua

        c = self.config
        retry_min = min(c.poll_seconds, c.reconnect_max_seconds)
        link = OpcuaLink.attach(self.connections.opcua, self.connections.clock, self.endpoint(),
                                retry_min=retry_min, retry_max=c.reconnect_max_seconds)
        self.link = link
        wait = retry_min
        try:
            while True:
                self._answered = False
                try:
                    await self._read(link)
                except SourceFault as exc:
                    self._fault(exc)
                except ua.UaStatusCodeError as exc:
                    self._fault(SourceFault(f"OPC UA server {c.url} refused node {c.node}: {exc}"))
                except (TimeoutError, OSError, ua.UaError) as exc:
                    why = str(exc) or type(exc).__name__
                    self._fault(ServerUnreachable(f"OPC UA server {c.url} unreachable: {why}"))
                if self._answered:
                    wait = retry_min
                await self.connections.clock.sleep(wait)
                wait = min(wait * 2, c.reconnect_max_seconds)
        finally:
            link.unsubscribe(self.on_value)
            await asyncio.shield(link.detach())

    async def _read(self, link: OpcuaLink) -> None:
        c = self.config
        client = await link.session()
        node = client.get_node(link.resolve(c.node))
        first = await node.read_data_value()  # proves the node exists before subscribing
        if c.subscribe:
            await link.subscribe(node, c.poll_seconds, self.on_value)
            exc = await link.until_lost()
            raise ServerUnreachable(f"OPC UA server {c.url} unreachable: {exc}")
        self.on_value(first)
        while True:
            await self.connections.clock.sleep(c.poll_seconds)
            self.on_value(await node.read_data_value())

    def on_value(self, data_value: Any) -> None:
        """Hand one OPC UA DataValue to the sink, or report its bad status."""
        c = self.config
        status = data_value.StatusCode
        if status is not None and not status.is_good():
            self._fault(SourceFault(f"OPC UA node {c.node} on {c.url} reports {status.name}"))
            return
        self._answered = True  # a good value, not a mere connection, resets the reconnect wait
        self.availability.ok()
        value = data_value.Value.Value if data_value.Value is not None else None
        if isinstance(value, bool):
            value = int(value)
        ts = epoch_seconds(data_value.SourceTimestamp, self.connections.clock.now())
        if c.mode == "pulse":
            # A part-done flag: count each change to non-zero; the first value only learns it.
            if self._flag.rose(bool(value)):
                self.deliver(1, ts=ts)
            return
        self.deliver(value, ts=ts)

    def _fault(self, fault: SourceFault) -> None:
        self._flag.forget()
        self.availability.fault(fault)

    def describe(self) -> str:
        """Say which server and node this source reads."""
        c = self.config
        return f"opcua {c.url} {c.node} ({'subscription' if c.subscribe else 'poll'})"


DRIVER = Driver("opcua", OpcuaSourceConfig, OpcuaSource)
