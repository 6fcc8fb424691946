"""Writing YAML test fixtures with ruamel.yaml."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML


def dump(document: Any) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()
