"""Which topic filters a link subscribes on the wire, so that no two of them match one topic.

MQTT 3.1.1 lets a broker send one copy of a message per matching subscription of a client (amqtt
does, and Mosquitto with ``allow_duplicate_messages true``, its announced default). The link routes
each message to its readers itself, so it never needs two wire filters that can match one topic: a
filter another one covers is left out, and two that overlap are replaced by the narrowest filter
covering both (``line/+/count`` and ``line/a/+`` become ``line/+/+``). Then every broker sends every
message once, whatever the readers' filters, and a message counts once per reader.
"""

from __future__ import annotations


def _levels(topic_filter: str) -> list[str]:
    return topic_filter.split("/")


def _system(level: str) -> bool:
    """Say whether a first level names a broker's $ topics, which wildcards in the first level never match."""
    return level.startswith("$")


def covers(wide: str, narrow: str) -> bool:
    """Say whether every topic that matches ``narrow`` also matches ``wide``."""
    w, n = _levels(wide), _levels(narrow)
    if _system(n[0]) and w[0] in ("+", "#"):
        return False
    for i, level in enumerate(w):
        if level == "#":
            return True
        if i >= len(n) or n[i] == "#":
            return False
        if level != "+" and (n[i] == "+" or n[i] != level):
            return False
    return len(w) == len(n)


def overlap(a: str, b: str) -> bool:
    """Say whether some topic matches both filters."""
    x, y = _levels(a), _levels(b)
    if _system(x[0]) != _system(y[0]) and (x[0] in ("+", "#") or y[0] in ("+", "#")):
        return False
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p == "#" or q == "#":
            return True
        if p is None or q is None:
            return False
        if p != q and "+" not in (p, q):
            return False
    return True


def join(a: str, b: str) -> str:
    """Return the narrowest filter covering both: ``+`` where a level differs, ``#`` where the lengths part."""
    x, y = _levels(a), _levels(b)
    out: list[str] = []
    for p, q in zip(x, y, strict=False):
        if "#" in (p, q):
            return "/".join([*out, "#"])
        out.append(p if p == q else "+")
    if len(x) != len(y):
        out.append("#")
    return "/".join(out)


def wire_filters(wanted: dict[str, int]) -> dict[str, int]:
    """Return the filters to subscribe (with their QoS) for readers' ``wanted`` filters: none of them overlap.

    Each wire filter gets the highest QoS of the filters it stands for.
    """
    wire = dict(wanted)
    while True:
        names = sorted(wire)
        pair = next(((a, b) for i, a in enumerate(names) for b in names[i + 1:] if overlap(a, b)), None)
        if pair is None:
            return wire
        a, b = pair
        qos = max(wire.pop(a), wire.pop(b))
        if covers(a, b):
            merged = a
        elif covers(b, a):
            merged = b
        else:
            merged = join(a, b)
        wire[merged] = max(qos, wire.get(merged, 0))


def wire_filter_of(topic_filter: str, wire: dict[str, int]) -> str | None:
    """Return the wire filter that stands for a reader's filter (None when it is not subscribed)."""
    if topic_filter in wire:
        return topic_filter
    return next((w for w in sorted(wire) if covers(w, topic_filter)), None)
