"""The Sparkplug B payload (protobuf, proto2) and its topic namespace, read and written by andon.

The message schema is built here in code from the public Sparkplug B specification's field numbers and
types, so no generated module and no protoc are needed. It holds the fields andon reads and writes;
the rest of a payload (metadata, property sets, data sets, templates) is skipped by the parser.

Topics: ``spBv1.0/<group>/<type>/<edge node>[/<device>]``, with types NBIRTH, NDATA, NDEATH, NCMD
(an edge node) and DBIRTH, DDATA, DDEATH, DCMD (a device behind it).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"

# Sparkplug B data types (the specification's DataType enumeration).
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT = 9, 10, 11, 12, 13, 14
_SIGNED_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}

# Metric fields: (name, number, protobuf type, label optional); value fields form the oneof "value".
_METRIC_FIELDS = (
    ("name", 1, "string"), ("alias", 2, "uint64"), ("timestamp", 3, "uint64"), ("datatype", 4, "uint32"),
    ("is_historical", 5, "bool"), ("is_transient", 6, "bool"), ("is_null", 7, "bool"),
)
_VALUE_FIELDS = (
    ("int_value", 10, "uint32"), ("long_value", 11, "uint64"), ("float_value", 12, "float"),
    ("double_value", 13, "double"), ("boolean_value", 14, "bool"), ("string_value", 15, "string"),
    ("bytes_value", 16, "bytes"),
)
_PAYLOAD_FIELDS = (("timestamp", 1, "uint64"), ("seq", 3, "uint64"), ("uuid", 4, "string"), ("body", 5, "bytes"))


@functools.cache
def payload_class() -> Any:
    """Return the protobuf message class of a Sparkplug B payload (built once; needs ``protobuf``)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    kinds = descriptor_pb2.FieldDescriptorProto
    types = {
        "string": kinds.TYPE_STRING, "uint64": kinds.TYPE_UINT64, "uint32": kinds.TYPE_UINT32,
        "bool": kinds.TYPE_BOOL, "float": kinds.TYPE_FLOAT, "double": kinds.TYPE_DOUBLE, "bytes": kinds.TYPE_BYTES,
    }
    file = descriptor_pb2.FileDescriptorProto(
        name="andon_sparkplug_b.proto", package="andon.sparkplug_b", syntax="proto2"
    )
    payload = file.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    for name, number, kind in _METRIC_FIELDS:
        metric.field.add(name=name, number=number, type=types[kind], label=kinds.LABEL_OPTIONAL)
    for name, number, kind in _VALUE_FIELDS:
        metric.field.add(name=name, number=number, type=types[kind], label=kinds.LABEL_OPTIONAL, oneof_index=0)
    for name, number, kind in _PAYLOAD_FIELDS:
        payload.field.add(name=name, number=number, type=types[kind], label=kinds.LABEL_OPTIONAL)
    payload.field.add(
        name="metrics", number=2, type=kinds.TYPE_MESSAGE, label=kinds.LABEL_REPEATED,
        type_name=".andon.sparkplug_b.Payload.Metric",
    )
    payload.extension_range.add(start=6, end=536_870_912)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("andon.sparkplug_b.Payload"))


@dataclass(frozen=True)
class Topic:
    """A Sparkplug B topic: group, message type, edge node and (for D* messages) device."""

    group: str
    kind: str
    edge_node: str
    device: str | None = None

    @classmethod
    def parse(cls, topic: str) -> Topic | None:
        """Read a topic of the namespace; None for anything else (STATE, other namespaces)."""
        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
            return None
        return cls(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None)

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.kind}/{self.edge_node}{tail}"


def metric_value(metric: Any) -> Any:
    """Return a metric's value as Python (int, float, bool, str, bytes), or None when it is null or absent."""
    if metric.is_null:
        return None
    which = metric.WhichOneof("value")
    if which is None:
        return None
    value = getattr(metric, which)
    bits = _SIGNED_BITS.get(metric.datatype)
    if bits is None or which not in ("int_value", "long_value"):
        return value
    carrier = 32 if which == "int_value" else 64
    if value >= 1 << (carrier - 1):  # sign-extended into the unsigned carrier
        return value - (1 << carrier)
    if bits < carrier and 1 << (bits - 1) <= value < 1 << bits:  # written without sign extension
        return value - (1 << bits)
    return value


def set_value(metric: Any, datatype: int, value: Any) -> None:
    """Set a metric's datatype and value (None: a null value)."""
    metric.datatype = datatype
    if value is None:
        metric.is_null = True
    elif datatype in (BOOLEAN,):
        metric.boolean_value = bool(value)
    elif datatype in (STRING, TEXT):
        metric.string_value = str(value)
    elif datatype in (FLOAT,):
        metric.float_value = float(value)
    elif datatype in (DOUBLE,):
        if isinstance(value, float) and not math.isfinite(value):
            metric.is_null = True
        else:
            metric.double_value = float(value)
    elif datatype in (INT64, UINT64, DATETIME):
        metric.long_value = int(value) % (1 << 64)
    else:
        metric.int_value = int(value) % (1 << 32)


def rebirth_request(timestamp_ms: int) -> bytes:
    """Return the NCMD payload asking an edge node to publish its births again."""
    payload = payload_class()(timestamp=timestamp_ms)
    metric = payload.metrics.add(name=REBIRTH, timestamp=timestamp_ms)
    set_value(metric, BOOLEAN, True)
    return bytes(payload.SerializeToString())
