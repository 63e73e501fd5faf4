"""The config as documentation: a commented default TOML file and docs/configuration.md's reference table."""

from __future__ import annotations

import json

from edge.config.schema import reference


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def default_toml() -> str:
    """Every key at its default, with its description: a starting /etc/maskgate/maskgate.toml."""
    lines = ["# MaskGate configuration. Every key is optional; shown here at its default.", ""]
    section = None
    for key, kind, default, doc in reference():
        name, field = key.split(".")
        if name != section:
            lines += ([""] if section else []) + [f"[{name}]"]
            section = name
        lines.append(f"# {doc} ({kind})")
        lines.append(f"{field} = {toml_value(default)}")
    return "\n".join(lines) + "\n"


def markdown_reference() -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows += [
        f"| `{key}` | {kind.replace(' | ', ' / ')} | `{toml_value(default)}` | {doc} |"
        for key, kind, default, doc in reference()
    ]
    return "\n".join(rows) + "\n"
