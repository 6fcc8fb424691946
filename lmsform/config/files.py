"""One manifest file: parsed (a long list a run at a time), its references expanded, its
blocks validated together and its entries one by one, each valid entry handed to its kind
(`Kind.declare`) to become resources. What is valid of a file with errors is kept, so that
the checks across files still see it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from lmsform import kinds
from lmsform.config import helper
from lmsform.config.diagnostics import (
    Loc,
    _Collector,
    _report,
    _syntax_problem,
    did_you_mean,
)
from lmsform.config.helper import AsRead
from lmsform.config.interpolation import (
    _expand,
    _may_refer,
    _Variables,
)
from lmsform.errors import Problem, display_path, reason
from lmsform.kinds import Declaring, Kind
from lmsform.manifest import (
    MovedSpec,
    PolicySpec,
)
from lmsform.resources import SCHEMAS, Resource
from lmsform.yamlfile import LaterRunError, LaterRuns, YamlFile, YamlSyntaxError


def _read_file(path: Path, c: _Collector, offline: bool,
               variables: _Variables) -> _FileParts | None:
    """One manifest, parsed, interpolated and validated; what is valid of it even when some
    entries are not, so that checks across files still see it."""
    name = display_path(path)
    try:
        yaml_file = YamlFile(path)
    except OSError as exc:
        c.problems.append(Problem(name, 0, 0, "", f"cannot read this manifest: "
                                  f"{reason(exc)}"))
        return None
    c.files[name] = yaml_file
    interpolated = _may_refer(yaml_file.raw)
    reported = len(c.problems)
    try:
        # a long list is read a run at a time, unless interpolation needs it whole
        data, later = (yaml_file.load(), {}) if interpolated else yaml_file.load_in_runs()
        if not _is_manifest(name, data, c):
            return _FileParts(name, {}, [], [])  # declares nothing: others are judged
        if interpolated:
            data = _expand(name, data, c, offline, variables)
        return _validated(name, data, c, later, uninterpolated=not interpolated)
    except LaterRunError:
        del c.problems[reported:]  # what the runs read so far said, said again below
        return _read_again(name, yaml_file, c)
    except YamlSyntaxError as exc:
        _syntax_problem(name, exc, c)
        return None


# A manifest a helper process read (`read_elsewhere`): its resources' kinds, keys,
# attributes and places in it.
PortableFile = list[tuple[str, str, dict[str, Any], Loc]]


def read_elsewhere(path: Path) -> tuple[int, PortableFile | None]:
    """In a helper process (`helper.Helper`): one manifest read as `_read_file` reads it,
    handed back as its resources; None where it needs this process: `${...}` references, a
    problem to say, or more than plain resources (a block, a move, a policy, a lifecycle, a
    secret, a time bound)."""
    c = _Collector()
    try:
        uninterpolated = not _may_refer(path.read_bytes())
    except OSError:
        uninterpolated = False
    part = _read_file(path, c, False, _Variables()) if uninterpolated else None
    if part is None or c.problems or part.singles or part.moved or part.policies \
            or part.doubtful or part.broken:
        return os.getpid(), None
    made: PortableFile = []
    for resource in part.resources:
        carried = helper.portable(resource)
        if carried is None or resource.origin is None:
            return os.getpid(), None
        made.append((resource.kind, *carried, resource.origin[1]))
    return os.getpid(), made


def from_helper(path: Path, made: PortableFile | None, c: _Collector) -> _FileParts | None:
    """A manifest the helper read (`made`) as `_read_file` would have made it here; None
    where it must be read here (the helper handed it back)."""
    if made is None:
        return None
    name = display_path(path)
    c.files[name] = YamlFile(path, read=False)  # for places of problems found across files
    return _FileParts(name, {}, [helper.rebuilt(kind, key, attrs, (name, loc))
                                 for kind, key, attrs, loc in made], [])


def _read_again(name: str, yaml_file: YamlFile, c: _Collector) -> _FileParts | None:
    """A file whose later runs did not parse, read whole by the loader that says where."""
    try:
        data = yaml_file.load_full()
    except YamlSyntaxError as exc:
        _syntax_problem(name, exc, c)
        return None
    return _validated(name, data, c) if _is_manifest(name, data, c) else None


def _is_manifest(name: str, data: Any, c: _Collector) -> bool:
    """Whether a file is a manifest (an empty one is, and declares nothing); the error
    says what the file is not, never what it holds: it may be any file linked here."""
    if data is None:
        return False
    sections = kinds.manifest_model().model_fields
    if isinstance(data, dict) and not data.keys() & sections and \
            any(did_you_mean(str(key), sections) for key in data):
        return True  # a misspelt section (`userz:`): reported as such, with the others
    if not isinstance(data, dict) or (data and not data.keys() & sections):
        c.add(name, (), "not an lmsform manifest: a manifest is a mapping with some of the "
              f"keys {', '.join(sections)}")
        return False
    return True


# The lists whose entries are validated one at a time, in the order their resources are
# declared.
def _entry_lists() -> dict[str, type[BaseModel]]:
    """Each top-level list whose entries are validated one at a time, and the model of one
    entry: the kinds' sections, `moved` and `policies`."""
    return {**{s: k.spec for s, k in kinds.sections().items() if k.spec is not None},
            "moved": MovedSpec, "policies": PolicySpec}


def _validated(name: str, data: dict[str, Any], c: _Collector,
               later: dict[str, LaterRuns] | None = None, *,
               uninterpolated: bool = False) -> _FileParts:
    """One file's blocks and resources, and what is valid of it even when some entries are
    not (their errors reported), so that checks across files still see it.

    The blocks are validated together, the entries of each list one by one, each raw entry
    dropped as soon as its resources exist, and a long list's `later` runs read only once
    the run before is done: a file of 100k users never holds its raw data, its pydantic
    models and its resources all at once. `uninterpolated`: the file has no `${...}`, so
    that most entries may be validated into plain dicts (`Kind.plain_resource`)."""
    lists = {k: data[k] for k in _entry_lists() if isinstance(data.get(k), list)}
    part = _FileParts(name, _blocks(name, {k: v for k, v in data.items() if k not in lists},
                                    c), [], [])
    part.broken = {k for k in ("provider", "state", "settings") if k in data}
    part.broken -= part.singles.keys()
    later = later or {}
    for key, first in lists.items():
        _validate_list(name, key, first, later.pop(key, None), part, c, uninterpolated)
    for runs in later.values():  # a long list under an unknown key: reported, but parsed
        for _ in runs:  # too, where a syntax error may hide
            pass
    return part


def _validate_list(name: str, key: str, first: list[Any], runs: LaterRuns | None,
                   part: _FileParts, c: _Collector, uninterpolated: bool) -> None:
    """The entries of the list under `key`, run after run; in a file without `${...}`, a
    helper process declares the second half of a long list's runs meanwhile (`helper`)."""
    kind = kinds.sections().get(key)
    second = helper.start(kind, runs) \
        if uninterpolated and kind is not None and runs is not None else None
    try:
        start = 0
        for entries in itertools.chain([first], second.here if second else runs or ()):
            _validate_entries(name, key, start, entries, part, c, uninterpolated)
            start += len(entries)
        for declared in second.declared() if second else ():
            start = _take_declared(name, key, start, declared, part, c)
    finally:
        if second is not None:
            second.close()


def _take_declared(name: str, key: str, start: int, declared: list[Resource | AsRead],
                   part: _FileParts, c: _Collector) -> int:
    """A run the helper declared, from entry `start`: each resource at its place in the
    file, each entry it handed back validated here by its model. Where the next run
    starts."""
    for i, made in enumerate(declared):
        if isinstance(made, AsRead):
            _validate_entries(name, key, start + i, [made.entry], part, c, uninterpolated=False)
        else:
            made.origin = (name, (key, start + i))
            part.resources.append(made)
    return start + len(declared)


def _validate_entries(name: str, key: str, start: int, entries: list[Any], part: _FileParts,
                      c: _Collector, uninterpolated: bool) -> None:
    """Entries `start`... of the list under `key`, each replaced by None once done."""
    model = _entry_lists()[key]
    kind, say = kinds.sections().get(key), _Saying(name, c)
    for i, entry in enumerate(entries):
        entries[i] = None
        if uninterpolated and kind is not None:
            resource = kind.plain_resource(entry, (name, (key, start + i)))
            if resource is not None:
                part.resources.append(resource)
                continue
        spec: BaseModel | None
        try:
            spec = model.model_validate(entry)
        except ValidationError as exc:
            _report(name, (key, start + i), exc, c)
            if kind is not None:
                _doubt(kind, entry, part.doubtful)
            spec = _without_errors(model, entry, exc)
        if spec is None:
            continue
        if isinstance(spec, MovedSpec):
            part.moved.append((start + i, spec))
        elif isinstance(spec, PolicySpec):
            part.policies.append((start + i, spec))
        elif kind is not None:
            part.resources.extend(_resources_of(kind, spec, (name, (key, start + i)), say, c))


def _without_errors(model: type[BaseModel], entry: Any, exc: ValidationError
                    ) -> BaseModel | None:
    """An invalid entry without its invalid fields, when what is left is valid: its errors
    are reported, and what it still declares and refers to is checked with everything else
    in the same run (an unknown group is reported beside a misspelt field, not after its
    fix). None where the entry's key itself, or a required field, is in error."""
    if not isinstance(entry, dict):
        return None
    wrong = {error["loc"][0] for error in exc.errors() if error["loc"]}
    try:
        return model.model_validate({k: v for k, v in entry.items() if k not in wrong})
    except ValidationError:
        return None


def _blocks(name: str, blocks: dict[str, Any], c: _Collector) -> dict[str, Any]:
    """The file's provider, state, settings, include and vars blocks that are valid (the
    others reported); unknown top-level keys are reported here too."""
    try:
        document = kinds.manifest_model().model_validate(blocks)
    except ValidationError as exc:
        _report(name, (), exc, c)
        valid = {}
        for key, value in blocks.items():  # each block on its own: keep the valid ones
            try:
                valid[key] = getattr(kinds.manifest_model().model_validate({key: value}), key)
            except ValidationError:
                continue
        document = kinds.manifest_model().model_construct(**valid)
    return {k: getattr(document, k) for k in ("provider", "state", "settings", "include", "vars")
            if getattr(document, k) is not None}


def _doubt(kind: Kind, entry: Any, doubtful: dict[str, set[str] | None]) -> None:
    """Names an invalid entry of a kind's section may declare: references to them are not
    reported as unknown as well."""
    for name, names in kind.doubtful(entry).items():
        known = doubtful.get(name, set())
        doubtful[name] = None if names is None or known is None else known | names


@dataclass
class _FileParts:
    """What one validated file contributes; the pydantic models are not kept (memory)."""

    name: str
    singles: dict[str, Any]  # provider, state, settings blocks present in this file
    resources: list[Resource]
    moved: list[tuple[int, MovedSpec]]  # with its index under `moved:`
    # names declared by entries that failed validation, per kind (None: any name)
    doubtful: dict[str, set[str] | None] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # provider/state/settings blocks invalid
    policies: list[tuple[int, PolicySpec]] = field(default_factory=list)  # with its index


# Stands for a file that did not parse, or a directory `include:` could not read: it may
# declare anything, so references to what it might hold cannot be judged.
_UNREAD = _FileParts("", {}, [], [], dict.fromkeys(SCHEMAS), {"provider"})


def _resources_of(kind: Kind, spec: BaseModel, origin: tuple[str, Loc], say: Declaring,
                  c: _Collector) -> Iterator[Resource]:
    """The resources one valid entry of a kind's section declares (`Kind.declare`), with
    canonical attributes: only the fields the manifest sets. A field that took a value from
    the environment is sensitive (`Resource.sensitive`), unless it names the resource."""
    name, loc = origin
    for resource in kind.declare(spec, origin, say):
        if c.from_env_at:
            naming = kinds.get(resource.kind).naming_fields
            resource.sensitive = frozenset(
                f for f in resource.attrs
                if f not in naming and (name, (*loc, f)) in c.from_env_at)
        yield resource


@dataclass
class _Saying(Declaring):
    """What a kind says of an entry it declares, collected with every other problem."""

    name: str
    c: _Collector

    def error(self, loc: Loc, message: str) -> None:
        self.c.add(self.name, loc, message)

    def literal_secret(self, loc: Loc, what: str) -> None:
        self.c.literal_secret(self.name, loc, what)

    def where(self, loc: Loc) -> str:
        return self.c.where(self.name, loc)

    def from_environment(self, loc: Loc) -> bool:
        return (self.name, loc) in self.c.from_env_at
