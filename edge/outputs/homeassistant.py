"""Home Assistant MQTT discovery for one door: a bare-face binary sensor and a counter per label, available
while the door's retained state topic says online."""

from __future__ import annotations

from edge import __version__
from edge.config.mqtt_settings import OFFLINE, ONLINE
from edge.vision.labels import MASK, MASK_INCORRECT, NO_MASK

COUNT_TITLES = {MASK: "Masked faces", NO_MASK: "Bare faces", MASK_INCORRECT: "Masks worn wrong"}


def discovery_messages(
    prefix: str, device_id: str, topics: dict[str, str], labels: tuple[str, ...]
) -> dict[str, dict[str, object]]:
    """Discovery topic -> config payload under the discovery prefix `prefix`, for the door's `topics`."""
    node = f"maskgate_{device_id}"
    common = {
        "availability_topic": topics["state"],
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": {
            "identifiers": [node],
            "name": f"MaskGate {device_id}",
            "manufacturer": "MaskGate",
            "model": "MaskGate door",
            "sw_version": __version__,
        },
    }
    messages: dict[str, dict[str, object]] = {
        f"{prefix}/binary_sensor/{node}/bare_face/config": {
            "name": "Bare face detected",
            "unique_id": f"{node}_bare_face",
            "state_topic": topics["bare_face"],
            "payload_on": "ON",
            "payload_off": "OFF",
            "icon": "mdi:emoticon-outline",
            **common,
        }
    }
    for label in labels:
        messages[f"{prefix}/sensor/{node}/{label}_count/config"] = {
            "name": COUNT_TITLES.get(label, f"Faces labelled {label}"),
            "unique_id": f"{node}_{label}_count",
            "state_topic": topics["counts"],
            "value_template": f"{{{{ value_json.{label} }}}}",
            "state_class": "total_increasing",
            "icon": "mdi:counter",
            **common,
        }
    return messages
