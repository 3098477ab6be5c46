"""The paho client an MQTT link drives: broker settings with a device's overrides, credentials, TLS, last will,
backoff, and which refusals are worth retrying.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import paho.mqtt.client as paho

from andon.config.bases import MqttConfig

# Connection refusals worth retrying: the broker is there but cannot take us right now.
TRANSIENT_REFUSALS = frozenset({"Server unavailable", "Server busy", "Connection rate exceeded"})


def refusal_is_final(reason_name: str) -> bool:
    """Say whether a refused connection will not cure itself (bad credentials, not authorised)."""
    return reason_name not in TRANSIENT_REFUSALS


def broker_settings(plant: MqttConfig | None, host: str | None, port: int | None) -> MqttConfig:
    """Return the plant's broker settings (``connections.mqtt``) with a device's host/port overrides."""
    settings = plant or MqttConfig.model_validate({})
    update = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return settings.model_copy(update=update) if update else settings


def device_client_id(settings: MqttConfig, kind: str, topic: str) -> str:
    """Return the default client id of a device's own connection: the plant's id, its kind and its topic."""
    safe_topic = re.sub(r"[^A-Za-z0-9_-]+", "-", topic).strip("-")
    return f"{settings.client_id}-{kind}-{safe_topic}"


@dataclass(frozen=True)
class Will:
    """What the broker publishes for this client when its connection dies without a goodbye."""

    topic: str
    payload: str | bytes
    qos: int = 1
    retain: bool = True


def new_client(settings: MqttConfig, client_id: str, *, persistent: bool, will: Will | None = None) -> paho.Client:
    """Make a paho client (callback API 2, MQTT 3.1.1) with the broker's credentials, TLS, will and backoff set."""
    client = paho.Client(
        callback_api_version=paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=paho.MQTTv311,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    # paho's default window of 20 unacknowledged QoS 1 messages queues a busy plant's state
    # updates behind broker round trips; the broker bounds its own side (max_inflight_messages).
    client.max_inflight_messages_set(1000)
    return client
