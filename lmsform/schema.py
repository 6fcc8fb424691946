"""The editor schema (`lmsform schema`): a JSON Schema of one manifest file that accepts
exactly what `lmsform validate` accepts of a file on its own, as far as JSON Schema can say it,
for editors (the YAML language server) and checkers (check-jsonschema) with stock validators.

It starts from the pydantic models (their types carry their JSON Schema where the default would
say less or more than validation does: numbers written for text, names without `/`, money and
other numbers also as text, currency codes, a discount's either/or, each kind's
`ignore_changes` fields), then fills in what only plugins know (the settings of every installed
provider, chosen by `type`, and of every state backend, chosen by `backend`) and what
interpolation means: every text holds only well-formed `${env:NAME}`, `${var:NAME}` or
`${...:-default}` references (or `$${` for a literal `${`), and every value a reference could
give (a number, a flag, a key, a currency, ...) also takes a text holding one; `vars:` and
`include:` take `${env:...}` only. A field's name is never a reference.

What JSON Schema cannot say, and stays `validate`'s (docs/manifests.md, "The editor schema"):
- what spans files: references to departments, groups and courses declared elsewhere,
  duplicates (of policies' names too), a second provider, state or settings block, `moved:`
  targets and sources, whether a `${var:NAME}` names a variable of the directory;
- what a reference expands to (the environment, a variable, a default): the schema accepts a
  reference wherever some value of it could be valid; validate checks the value (and, with
  the variable unset, warns and does not check that field);
- the two decimal places of an amount (four of a percent) written as a YAML number:
  `multipleOf: 0.01` is float arithmetic in stock validators (19.99 fails it), so the schema
  checks an amount's places only when it is written as text (`'19.99'`), and validate checks
  them always; likewise the range of a number written in quotes, and a number in exponent
  notation where a whole number or an amount is expected;
- an email address's full rules (email-validator's), a date that does not exist, and the
  custom values that cannot be stored (NaN, infinity, integers beyond 2**53);
- time (`schedule.py`): a time zone the zone database knows (the schema checks how a name is
  spelt), a window's end before its start, a course listed twice among a user's enrollments
  with a window, a time bound on a field `lifecycle.ignore_changes` lists;
- a vendor's rules: what the provider supports (`validate` asks the provider plugin);
- a policy's expression is CEL: its syntax and types are the CEL compiler's to check.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from lmsform import backends, kinds, providers

DIALECT = "https://json-schema.org/draft/2020-12/schema"
STRING_ONLY = {"pattern", "format", "enum", "const"}  # a string that a number cannot spell
LENGTHS = {"minLength", "maxLength"}
SCALARS = {"string", "number", "integer", "boolean"}
# Interpolation, as config.ENV_RE reads it: a reference, `$${` (a literal `${`), or any
# other character (a `$` that starts no `${`).
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
DEFAULT = r"(?::-(?:[^$}]|\$(?!\{))*)?"
PLAIN = r"[^$]|\$(?!\{|\$\{)|\$\$\{"


def reference(sources: str) -> str:
    return rf"\$\{{(?:{sources}):{NAME}{DEFAULT}\}}"


def well_formed(sources: str) -> str:
    """Text whose every `${` starts a well-formed reference (of these sources) or is `$${`."""
    return rf"^(?:{PLAIN}|{reference(sources)})*$"


def holding_reference(sources: str) -> str:
    """Well-formed text holding at least one reference: what a reference may stand for."""
    part = rf"(?:{PLAIN}|{reference(sources)})*"
    return rf"^{part}{reference(sources)}{part}$"


ALL, ENV = "env|var", "env"
NAMES = {ALL: "", ENV: "Env"}  # the definitions' names: Reference, Text, EnvReference, ...


def manifest_schema() -> dict[str, Any]:
    document = kinds.manifest_model().model_json_schema(by_alias=True)
    defs: dict[str, Any] = document.setdefault("$defs", {})
    properties = document["properties"]
    properties["provider"] = _choice(
        {name: cls.settings_model for name, cls in providers.available().items()}, "type",
        defs)
    properties["state"] = _choice(
        {name: cls.settings_model for name, cls in backends.available().items()}, "backend",
        defs)
    defs.update(_custom_defs())
    document = _numbers_as_text(_custom(_kind_names(document)))
    early = {k: _references(properties.pop(k), ENV) for k in ("vars", "include")}
    document = _code(_references(document, ALL))
    document["properties"].update(early)
    document["$defs"].update({f"{NAMES[s]}Reference": {"type": "string",
                                                     "pattern": holding_reference(s)}
                              for s in NAMES})
    document["$defs"].update({f"{NAMES[s]}Text": {"type": "string", "pattern": well_formed(s)}
                              for s in NAMES})
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


def _custom_defs() -> dict[str, Any]:
    """`custom:`: any JSON values under text keys (nested too)."""
    value = {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "null"},
                       {"type": "string"}, {"type": "array", "items": {"$ref": "#/$defs/Value"}},
                       {"$ref": "#/$defs/Custom"}]}
    custom = {"type": "object", "propertyNames": {"type": "string"},
              "additionalProperties": {"$ref": "#/$defs/Value"}}
    return {"Custom": custom, "Value": value}


def _kind_names(node: Any) -> Any:
    """Addresses (`moved:`) and kind names (`prune:`), marked by manifest.Address and
    manifest.KindName, with the kinds registered now."""
    if isinstance(node, list):
        return [_kind_names(n) for n in node]
    if not isinstance(node, dict):
        return node
    names = "|".join(kinds.names())
    if node.get("$comment") == "address":
        return {"type": "string", "pattern": rf"^({names})\.(.+)$"}
    if node.get("$comment") == "kind":
        return {"enum": list(kinds.names())}
    return {k: _kind_names(v) for k, v in node.items()}


def _custom(node: Any) -> Any:
    """Each `custom:` (marked by manifest.Custom) as the Custom definition."""
    if isinstance(node, list):
        return [_custom(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("$comment") == "custom":
        return {"$ref": "#/$defs/Custom"}
    return {k: _custom(v) for k, v in node.items()}


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


def _references(node: Any, sources: str) -> Any:
    """Every text holds only well-formed references; every scalar a reference could give
    also takes a text holding one. Field names (`properties`, `propertyNames`) stay as
    they are: a reference is never one; and so do the conditions between fields (`if`,
    `then`), which speak of the values written."""
    if isinstance(node, list):
        return [_references(n, sources) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("$comment") == "code":
        return node  # `_code`'s
    if _is_scalar(node):
        return _scalar(node, sources)
    return {k: v if k in ("propertyNames", "required", "default", "if", "then") else
            {name: _references(s, sources) for name, s in v.items()} if k == "properties"
            else _references(v, sources) for k, v in node.items()}


def _code(node: Any) -> Any:
    """A policy's expression (marked by manifest.PolicySpec): text that holds no reference,
    since a value never becomes code; a malformed one is still interpolation's error."""
    if isinstance(node, list):
        return [_code(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("$comment") == "code":
        return {"type": "string", "minLength": 1,
                "allOf": [{"pattern": r"\S"}, {"pattern": well_formed(ALL)}],
                "not": {"pattern": holding_reference(ALL)}}
    return {k: _code(v) for k, v in node.items()}


def _is_scalar(node: dict[str, Any]) -> bool:
    if isinstance(node.get("const"), int):
        return False  # `version: 1`: a reference's text is never the number 1
    return node.get("type") in SCALARS or "enum" in node or "const" in node


def _scalar(node: dict[str, Any], sources: str) -> dict[str, Any]:
    text = {"$ref": f"#/$defs/{NAMES[sources]}Text"}
    if node.get("type") == "string":
        node = {"allOf": [node, text]}
        if not STRING_ONLY & node["allOf"][0].keys():
            return node  # a reference is text itself
    return {"anyOf": [node, {"$ref": f"#/$defs/{NAMES[sources]}Reference"}]}
