"""The editor schema (`lmsform schema`): a JSON Schema of one manifest file that accepts what
`lmsform validate` accepts and rejects what JSON Schema can express of what it rejects.

It starts from the pydantic models (their types carry their JSON Schema where the default would
say less or more than validation does: numbers written for text, names without `/`, decimals
with two places, the department shorthand), then fills in what only plugins know: the settings
of every installed provider, chosen by `type`, and of every state backend, chosen by `backend`.
What needs the whole directory (references, duplicates) or a vendor's rules stays `validate`'s.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from lmsform import backends, providers
from lmsform.manifest import ManifestFile

DIALECT = "https://json-schema.org/draft/2020-12/schema"
STRING_ONLY = {"pattern", "format", "enum", "const"}  # a string that a number cannot spell
LENGTHS = {"minLength", "maxLength"}


def manifest_schema() -> dict[str, Any]:
    document = ManifestFile.model_json_schema(by_alias=True)
    defs: dict[str, Any] = document.setdefault("$defs", {})
    document["properties"]["provider"] = _choice(
        {name: cls.settings_model for name, cls in providers.available().items()}, "type",
        defs)
    document["properties"]["state"] = _choice(
        {name: cls.settings_model for name, cls in backends.available().items()}, "backend",
        defs)
    document = _numbers_as_text(document)
    return {"$schema": DIALECT, **document, "title": "lmsform manifest"}


def _choice(models: dict[str, type[BaseModel]], field: str, defs: dict[str, Any]
            ) -> dict[str, Any]:
    """One of the plugins' settings, told apart by `field` (a plugin's name)."""
    options = []
    for name, model in models.items():
        schema = model.model_json_schema(by_alias=True)
        defs.update(schema.pop("$defs", {}))
        schema["properties"][field] = {"const": name}
        schema["title"] = f"{field}: {name}"
        options.append(schema)
    return {"anyOf": options}


def _numbers_as_text(node: Any) -> Any:
    """A plain text field also takes a number (`org_id: 99999`), as validation does."""
    if isinstance(node, list):
        return [_numbers_as_text(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "string" and not STRING_ONLY & node.keys():
        text = {"type": "string", **{k: v for k, v in node.items() if k in LENGTHS}}
        rest = {k: v for k, v in node.items() if k not in LENGTHS | {"type"}}
        return {**rest, "anyOf": [text, {"type": "number"}]}
    return {k: _numbers_as_text(v) for k, v in node.items()}
