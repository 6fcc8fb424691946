"""Loading a config directory: read every manifest, substitute ${env:...}, validate, merge.

Every problem found is collected with its file, line, column and field path, and reported
together in one ManifestError, before anything is contacted or written. One job a module:

- `discovery`: which files (the directory's manifests, `include:`d shared directories),
  and the environment's `vars:`, read before the rest;
- `interpolation`: `${env:...}` and `${var:...}` references, expanded as data;
- `files`: one manifest parsed and validated entry by entry; the kinds (`lmsform.kinds`)
  turn each entry into resources;
- `checks`: what spans files (duplicates, references, `moved:`, the provider and state
  blocks against their plugins), making the `Config` (`model`);
- `diagnostics`: problems with their places, and the nearest valid name for a misspelt one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from lmsform import memory
from lmsform.config import helper
from lmsform.config.checks import PLACEHOLDER, _merge
from lmsform.config.diagnostics import Loc, _Collector, did_you_mean, field_path
from lmsform.config.discovery import (
    SINGLE_BLOCKS,
    _environment,
    _has_top_level,
    _manifest_files,
    _read_included,
    config_manifests,
)
from lmsform.config.files import _UNREAD, _FileParts, _read_file, from_helper, read_elsewhere
from lmsform.config.helper import Helper
from lmsform.config.interpolation import _overridden, _Variables, state_block, variable_file
from lmsform.config.model import Config
from lmsform.errors import ManifestError, display_path

__all__ = ["PLACEHOLDER", "Config", "Loc", "_manifest_files", "config_manifests",
           "did_you_mean", "field_path", "load_config", "state_block", "variable_file"]

log = logging.getLogger(__name__)


def _read_manifests(paths: list[Path], c: _Collector, offline: bool,
                    values: _Variables) -> list[_FileParts]:
    """Each manifest, in order. Where they are many and long (100k users exported 5,000 to
    a file), a helper process reads the later half meanwhile (`files.read_elsewhere`), and
    what it hands back is read here, in its turn."""
    sizes = [_size(path) for path in paths]
    at = helper.halfway(sizes)
    forked = Helper.start([(read_elsewhere, (path,)) for path in paths[at:]]) \
        if sum(sizes[at:]) >= helper.MIN_BYTES else None
    here = paths if forked is None else paths[:at]
    try:
        parsed = [part for path in here
                  if (part := _read_file(path, c, offline, values)) is not None]
        for path, (_, made) in zip(paths[len(here):], forked.answers() if forked else (),
                                   strict=True):
            part = from_helper(path, made, c) or _read_file(path, c, offline, values)
            if part is not None:
                parsed.append(part)
    finally:
        if forked is not None:
            forked.close()
    return parsed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # said by `_read_file`


def load_config(directory: Path, *, offline: bool = False, blocks_only: bool = False,
                variables: Mapping[str, str] | None = None) -> Config:
    """Read, validate and merge the manifests of `directory`.

    `variables` override the values of `vars:` for this run (`--var`, `--var-file`): each
    must be declared there. With offline=True (`lmsform validate`), unset environment
    variables are warnings, so
    manifests can be checked where no secrets exist (pre-commit, forks). With
    blocks_only=True (`export --provider-only`), only the files holding the provider, state
    or settings block are read, and no resources: the others may be unfinished.
    """
    started = time.monotonic()
    collector = _Collector()
    paths = config_manifests(directory)
    if blocks_only:
        paths = [p for p in paths if _has_top_level(p, SINGLE_BLOCKS)]

    includes, found = _environment(paths)
    values = _overridden(found, variables or {})
    parsed = _read_manifests(paths, collector, offline, values)
    parsed += _read_included(directory, includes, collector, offline, values)
    if blocks_only:
        parsed = [_FileParts(p.name, p.singles, [], [], {}, p.broken) for p in parsed]
    if collector.errors and len(parsed) < len(collector.files):
        parsed.append(_UNREAD)
    # Checks that span files run over every file that parsed, in the same pass: one
    # `validate` shows everything.
    config = _merge(directory, parsed, collector)
    if collector.errors:
        raise ManifestError(collector.shown_problems(), partial=config)
    assert config is not None
    for yaml_file in collector.files.values():
        yaml_file.release()
    memory.release_after(len(config.resources))
    config.warnings = collector.shown_problems()
    config.files = collector.files
    config.from_env = frozenset(collector.from_env)
    log.info("loaded %d manifests declaring %d resources from %s in %.2fs", len(paths),
             len(config.resources), display_path(directory), time.monotonic() - started)
    return config
