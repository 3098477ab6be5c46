"""A Sparkplug B peer for tests: its own copy of the payload schema (protobuf text format) and an edge node.

The schema is written here independently of ``devices/sources/sparkplug_payload.py``, from the
specification's field numbers and types, so a wrong number in the product fails the tests.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import paho.mqtt.client as paho

SCHEMA = """
name: "test_sparkplug_b.proto"
package: "test.spb"
syntax: "proto2"
message_type {
  name: "Payload"
  field { name: "timestamp" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "metrics" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".test.spb.Payload.Metric" }
  field { name: "seq" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "uuid" number: 4 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "body" number: 5 label: LABEL_OPTIONAL type: TYPE_BYTES }
  nested_type {
    name: "Metric"
    field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "alias" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "timestamp" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "datatype" number: 4 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field { name: "is_historical" number: 5 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "is_transient" number: 6 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "is_null" number: 7 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "int_value" number: 10 label: LABEL_OPTIONAL type: TYPE_UINT32 oneof_index: 0 }
    field { name: "long_value" number: 11 label: LABEL_OPTIONAL type: TYPE_UINT64 oneof_index: 0 }
    field { name: "float_value" number: 12 label: LABEL_OPTIONAL type: TYPE_FLOAT oneof_index: 0 }
    field { name: "double_value" number: 13 label: LABEL_OPTIONAL type: TYPE_DOUBLE oneof_index: 0 }
    field { name: "boolean_value" number: 14 label: LABEL_OPTIONAL type: TYPE_BOOL oneof_index: 0 }
    field { name: "string_value" number: 15 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
    field { name: "bytes_value" number: 16 label: LABEL_OPTIONAL type: TYPE_BYTES oneof_index: 0 }
    oneof_decl { name: "value" }
  }
}
"""

INT32, INT64, UINT32, DOUBLE, BOOLEAN, STRING = 3, 4, 7, 10, 11, 12


@functools.cache
def Payload() -> Any:  # noqa: N802 - a message class
    """Return the test's own Sparkplug B payload class."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    file = text_format.Parse(SCHEMA, descriptor_pb2.FileDescriptorProto())
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("test.spb.Payload"))


def value_of(metric: Any) -> Any:
    """Return a metric's value by its oneof (None when null)."""
    if metric.is_null:
        return None
    which = metric.WhichOneof("value")
    if which is None:
        return None
    value = getattr(metric, which)
    if metric.datatype in (1, 2, 3) and which == "int_value" and value >= 2**31:  # Int8/16/32
        return value - 2**32
    if metric.datatype == 4 and which == "long_value" and value >= 2**63:  # Int64
        return value - 2**64
    return value


class EdgeNode:
    """A Sparkplug B edge node on a real broker: births, data with sequence numbers, death as its will."""

    def __init__(self, port: int, group: str, node: str, *, bd_seq: int = 0) -> None:
        self.group, self.node, self.bd_seq = group, node, bd_seq
        self.seq = 0
        self.commands: list[Any] = []
        self.lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"edge-{node}", protocol=paho.MQTTv311)
        death = Payload()(timestamp=1)
        death.metrics.add(name="bdSeq", datatype=INT64, long_value=bd_seq)
        self.client.will_set(self.topic("NDEATH"), death.SerializeToString(), qos=1, retain=False)
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        assert connected.wait(5), "edge node did not connect"
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe(self.topic("NCMD"), 1)
        assert subscribed.wait(5)

    def topic(self, kind: str, device: str | None = None) -> str:
        """Return the topic of a message type of this node (or of one of its devices)."""
        return f"spBv1.0/{self.group}/{kind}/{self.node}" + (f"/{device}" if device else "")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.lock:
            self.commands.append(Payload().FromString(message.payload))

    def rebirth_requests(self) -> int:
        """Return how many NCMD messages asked for Node Control/Rebirth = true."""
        with self.lock:
            return sum(1 for p in self.commands for m in p.metrics
                       if m.name == "Node Control/Rebirth" and m.boolean_value)

    def send(self, kind: str, metrics: list[dict[str, Any]], *, device: str | None = None,
             seq: int | None = None, timestamp: int = 1_800_000_000_000) -> None:
        """Publish one message (QoS 0, as edge nodes do); NBIRTH resets the sequence to 0."""
        payload = Payload()(timestamp=timestamp)
        if kind == "NBIRTH":
            self.seq = 0
        else:
            self.seq = (self.seq + 1) % 256
        if kind != "NDEATH":
            payload.seq = self.seq if seq is None else seq
        for keys in metrics:
            payload.metrics.add(**keys)
        info = self.client.publish(self.topic(kind, device), payload.SerializeToString(), qos=0)
        info.wait_for_publish(5)

    def birth(self, counter: int, *, device: str = "Filler") -> None:
        """Publish NBIRTH (bdSeq, rebirth control) and the device's DBIRTH naming Counters/Good as alias 7."""
        self.send("NBIRTH", [
            {"name": "bdSeq", "datatype": INT64, "long_value": self.bd_seq},
            {"name": "Node Control/Rebirth", "datatype": BOOLEAN, "boolean_value": False},
        ])
        self.send("DBIRTH", [
            {"name": "Counters/Good", "alias": 7, "datatype": UINT32, "int_value": counter},
            {"name": "Status", "alias": 8, "datatype": STRING, "string_value": "RUN"},
        ], device=device)

    def data(self, counter: int, *, device: str = "Filler", seq: int | None = None) -> None:
        """Publish DDATA with the counter by alias only."""
        self.send("DDATA", [{"alias": 7, "datatype": UINT32, "int_value": counter}], device=device, seq=seq)

    def die(self) -> None:
        """Drop the connection without a goodbye, so the broker publishes the NDEATH will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        """Disconnect cleanly (no will)."""
        self.client.disconnect()
        self.client.loop_stop()
