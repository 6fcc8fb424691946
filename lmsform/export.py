"""Export: a live LMS written out as manifests, and recorded in state, in one command.

Nobody starts with an empty LMS. `lmsform export` reads what the LMS that a config directory's
`provider:` block names holds, through the provider, and writes it as manifests laid out as
lmsform's own examples are (one file per kind, stable order, references by name, a comment at
the top saying where and when it came from). It records every exported resource in the state,
so that `lmsform plan` right after shows no changes: a reviewed, converged starting point.

It reads straight through: read the LMS (and, for a kind it cannot list, the ids the source
state knows) -> name every resource (manifest keys, references by name) -> keep what the
manifests can say -> write the files, checked first as a whole config directory in a scratch
copy, so that a failure writes nothing -> record the state.

What is never written: secrets (a password becomes nothing; the provider block keeps its
`${env:...}` references, copied as written), fields at their usual value (`active: true`,
`role: learner`, empty lists), and anything the LMS holds that a manifest cannot say (a name
with `/`, an address that is not an email), which is reported instead.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.representer import RoundTripRepresenter

from lmsform import backends, kinds, providers
from lmsform.backends.file import FileSettings, atomic_write, writing
from lmsform.config import Config, helper, load_config
from lmsform.errors import LmsformError, ManifestError, display_path
from lmsform.kinds import Exported
from lmsform.planning import fetch_live
from lmsform.providers.base import Provider
from lmsform.resources import (
    SCHEMAS,
    LiveNames,
    LiveResource,
    address_key,
    live_view,
    normalise,
    references,
)
from lmsform.scaffold import gitignore
from lmsform.secrets import Secrets
from lmsform.state import State, StateEntry


@dataclass
class ExportOptions:
    out: Path  # the config directory to write (the source itself by default)
    kinds: list[str] | None = None  # None: every kind the provider manages
    force: bool = False  # overwrite files that exist
    lock_timeout: float = 0.0  # seconds to wait for the state lock
    parallelism: int = 8


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # what could not be exported, and why
    seconds: float = 0.0


def export(source: Config, options: ExportOptions) -> ExportResult:
    """Write the LMS `source` names as manifests in `options.out` and record them in its
    state; nothing is written when the result would not be a valid config directory."""
    started = time.monotonic()
    result = ExportResult()
    provider = providers.open_provider(source.provider, source.directory, source.secrets())
    try:
        kinds = _kinds(provider, options.kinds)
        recorded, protected = _recorded(source, provider)
        live = fetch_live(provider, _with_references(provider, kinds), options.parallelism,
                          recorded)
        exported = _name_everything(provider, live, result.left_out, source.secrets())
        for kind in kinds:
            if not provider.capabilities.kinds[kind].listable:
                result.left_out.append(
                    f"{kind}s: {provider.type_name} cannot list them; exported the "
                    f"{len(exported[kind])} the source's state knows")
        chosen = {k: v for k, v in exported.items() if k in kinds}
        documents = _documents(chosen, provider, source, options, protected)
        state_settings = (source.state if options.out.resolve() == source.directory.resolve()
                          else FileSettings())  # a new directory gets the default state
        backend = backends.open_backend(state_settings, options.out)
        try:
            with backends.hold_lock(backend, "export", options.lock_timeout):
                state = State.load(backend, secrets=source.secrets())
                _same_lms(state, provider)  # before anything is written
                result.files, written = _write(options, documents,
                                               _meanings(chosen, provider))
                _record(state, written, chosen, provider)
        finally:
            backend.close()
        result.counts = {k: len(v) for k, v in chosen.items() if v}
    finally:
        provider.close()
    result.seconds = time.monotonic() - started
    return result


def _kinds(provider: Provider, wanted: list[str] | None) -> list[str]:
    supported = [k for k in kinds.names() if k in provider.capabilities.kinds]
    if wanted is None:
        return supported
    unknown = [k for k in wanted if k not in kinds.names()]
    if unknown:
        raise LmsformError(f"--kinds: {', '.join(unknown)} is not a kind; the kinds are "
                           f"{', '.join(kinds.names())}")
    missing = [k for k in wanted if k not in supported]
    if missing:
        raise LmsformError(f"--kinds: the {provider.type_name} provider does not manage "
                           f"{', '.join(missing)}")
    # kinds declared together are exported together (one file holds the whole hierarchy)
    wanted = [*wanted, *(k for w in wanted for k in kinds.get(w).family)]
    return [k for k in supported if k in wanted]


def _with_references(provider: Provider, chosen: list[str]) -> list[str]:
    """The kinds to read: those exported and those they refer to, all the way up (a user's
    department is named by its division and region)."""
    needed, todo = set(chosen), list(chosen)
    while todo:
        for target in SCHEMAS[todo.pop()].references.values():
            if target not in needed:
                needed.add(target)
                todo.append(target)
    return [k for k in kinds.names() if k in needed and k in provider.capabilities.kinds]


def _recorded(source: Config, provider: Provider) -> tuple[dict[str, dict[str, str]],
                                                           set[str]]:
    """What the source's state knows: kind -> address key -> id (the only way to read a
    kind the LMS cannot list), and the addresses it protects with `prevent_destroy`, which
    the exported manifests keep saying."""
    backend = backends.open_backend(source.state, source.directory)
    try:
        state = State.load(backend)
    finally:
        backend.close()
    recorded: dict[str, dict[str, str]] = defaultdict(dict)
    for address, entry in state.resources.items():
        if entry.kind in provider.capabilities.kinds:
            recorded[entry.kind][address.partition(".")[2]] = entry.id
    return recorded, {a for a, entry in state.resources.items() if entry.prevent_destroy}


def _name_everything(provider: Provider, live: dict[str, list[LiveResource]],
                     left_out: list[str], secrets: Secrets) -> dict[str, list[Exported]]:
    """Every live resource with its manifest key and references by name, parents first; a
    resource a manifest cannot say is left out with the reason."""
    names = LiveNames(provider.capabilities.external_kinds)
    exported: dict[str, list[Exported]] = defaultdict(list)
    for kind in [k for k in kinds.names() if k in live]:
        taken: set[str] = set()
        for resource in sorted(live[kind], key=lambda r: _sort_key(kind, r)):
            attrs = live_view(kind, provider.normalise(kind, resource.attrs), names)
            attrs = kinds.get(kind).export_key(attrs, resource.id, taken)
            key = address_key(kind, attrs)
            for name in [n for n, v in attrs.items() if secrets.shows(v)]:
                del attrs[name]  # a credential in the LMS: never written to a manifest
                left_out.append(f"{kind} {key!r}: field {name} shows a credential")
            problem = _cannot_say(kind, key, attrs, taken, names)
            if problem:
                left_out.append(f"{kind} {key!r} (id {resource.id}): {problem}")
                continue
            taken.add(key.casefold())
            names.name(kind, resource.id, key)
            exported[kind].append(Exported(kind, key, resource.id, attrs))
    return exported


def _sort_key(kind: str, resource: LiveResource) -> str:
    return f"{kinds.get(kind).sort_text(resource.attrs).casefold()}\0{resource.id}"


def _cannot_say(kind: str, key: str, attrs: dict[str, Any], taken: set[str],
                names: LiveNames) -> str | None:
    """Why a manifest cannot declare this resource, or None."""
    if key.casefold() in taken:
        return "another resource of this kind has the same name; exported the first"
    if any(names.is_unnamed(target, ref) for _, target, ref in references(kind, attrs)):
        return "it refers to something the LMS did not list, or that is not exported"
    data = kinds.get(kind).entry_data(attrs, _manifest_fields(kind, attrs, None))
    try:
        said = kinds.get(kind).read_back(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        return f"a manifest cannot say it ({where}: {error['msg']})"
    changed = _differing(said, normalise(kind, data))
    if changed:
        return (f"a manifest cannot say its {', '.join(changed)} exactly as the LMS holds "
                "it (spaces around a name, say)")
    return None


def _differing(said: dict[str, Any], meant: dict[str, Any]) -> list[str]:
    """The fields whose values differ: as Python compares them, and `custom`, where values
    of any type live, as JSON too (`true` is not `1`)."""
    return sorted(f for f in said.keys() | meant.keys()
                  if said.get(f) != meant.get(f) or (
                      f == "custom" and _json(said.get(f)) != _json(meant.get(f))))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _manifest_fields(kind: str, attrs: dict[str, Any],
                     supported: frozenset[str] | None) -> dict[str, Any]:
    """The fields a manifest writes: every one the provider holds, defaults included (a
    learner's `role: learner` left out would leave a later escalation to admin unmanaged),
    and an empty list (`groups: []`: no memberships, managed); never write-only ones, nor
    values that say nothing (no value, an empty text)."""
    out: dict[str, Any] = {}
    for name in SCHEMAS[kind].fields:
        value = attrs.get(name)
        if name in SCHEMAS[kind].write_only or (supported is not None and name not in
                                                 supported and name != "key"):
            continue
        if name == "custom" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if v not in (None, [], {}, "")}
        if value is None or value in ({}, ""):  # an empty list is kept: it says "none"
            continue
        out[name] = _yaml_value(name, value)
    return out


def _yaml_value(name: str, value: Any) -> Any:
    """Canonical values as a manifest writes them: prices as lists of plans, money and
    percentages as decimals, dates as dates."""
    if name == "pricing":
        return [{"plan": plan, "amount": Decimal(p["amount"]), "currency": p["currency"],
                 **({"billing": p["billing"]} if p.get("billing") not in (None, "one_time")
                    else {})} for plan, p in value.items()]
    if name == "discount":
        return {k: Decimal(v) if k in ("percent", "amount") else v for k, v in value.items()}
    if name == "expires":
        return dt.date.fromisoformat(str(value)[:10])
    return value


# writing


def _documents(exported: dict[str, list[Exported]], provider: Provider, source: Config,
               options: ExportOptions, protected: set[str]) -> dict[str, CommentedMap]:
    """File name -> the document to write, each with a comment saying where it came from.
    A resource the state protects says `lifecycle: {prevent_destroy: true}` again."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"Exported by `lmsform export` from {provider.identity()} on {stamp}.\n"
              "Review it, commit it: `lmsform plan` shows no changes until you edit it.")
    documents: dict[str, CommentedMap] = {}
    caps = provider.capabilities.kinds

    def entry(item: Exported) -> dict[str, Any]:
        fields = _manifest_fields(item.kind, item.attrs, caps[item.kind].fields)
        if f"{item.kind}.{item.key}" in protected:
            fields["lifecycle"] = {"prevent_destroy": True}
        return fields

    for kind in kinds.kinds():
        if kind.section is not None:
            for name, entries in kind.export_files(exported, entry):
                documents[name] = _doc(header, kind.section, entries)
    if options.out.resolve() != source.directory.resolve():
        documents["lmsform.yaml"] = _provider_document(source, options.out, header)
    return documents


def _doc(header: str, section: str, entries: list[Any]) -> CommentedMap:
    document = CommentedMap({section: _escaped(entries)})
    document.yaml_set_start_comment(header)
    return document


def _escaped(value: Any) -> Any:
    """What the LMS holds as manifest text: every `${` written `$${`, which loading reads
    back as `${`, so that no name, title, description or custom key the LMS holds ever
    becomes a reference (a learner called `${env:API_TOKEN}` stays that text)."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _provider_document(source: Config, out: Path, header: str) -> CommentedMap:
    """The source's provider block (and settings) as written, `${env:...}` kept, with what
    reads differently from `out` rewritten (`ProviderSettings.moved`); state is left to
    the new directory's default, so two directories never share one state file."""
    yaml = YAML()
    for path in sorted(source.directory.iterdir()):
        if path.suffix.lower() not in {".yaml", ".yml"}:
            continue
        document = yaml.load(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and "provider" in document:
            kept = CommentedMap()
            for name in ("version", "provider", "settings"):
                if name in document:
                    kept[name] = document[name]
            kept["provider"].update(source.provider.moved(source.directory, out))
            kept.yaml_set_start_comment(header + "\nThe state lives in .lmsform/ here "
                                                 "unless a `state:` block says otherwise.")
            return kept
    raise LmsformError(f"no provider block found in {source.directory}")


# Text the writer may leave unquoted: words (or a relative path), with spaces and a few marks
# inside, and none of YAML's indicators (`:`, `#`, `,`, brackets...) anywhere. ruamel.yaml's
# own choice is not trusted alone: it writes `? key` and `: x` unquoted inside a flow
# mapping, which is no longer valid YAML. What else it writes is checked by reading it back
# (`_check_meaning`).
PLAIN = re.compile(r"(?:\w|\.\.?/)[\w .@/+()&'-]*(?<! )")


def _represent_text(representer: Any, text: str) -> Any:
    """A string: as ruamel.yaml chooses when it is plain words (it still quotes `true` or
    `0001`), else single-quoted, or double-quoted with escapes when it holds anything that
    is not printable (line breaks, U+2028, NEL, a BOM, zero-width characters)."""
    style = None if PLAIN.fullmatch(text) else "'" if text.isprintable() else '"'
    return representer.represent_scalar("tag:yaml.org,2002:str", text, style=style)


class _Representer(RoundTripRepresenter):
    """ruamel.yaml's round-trip representer with export's text and decimals: a subclass,
    since adding representers to ruamel.yaml's own class would change how `fmt` writes."""


_Representer.add_representer(str, _represent_text)
_Representer.add_representer(
    Decimal, lambda r, d: r.represent_scalar("tag:yaml.org,2002:float", f"{d:f}"))


def _yaml() -> YAML:
    yaml = YAML()
    yaml.Representer = _Representer
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.default_flow_style = None  # short lists and maps inline, as the examples write them
    return yaml


def _write(options: ExportOptions, documents: dict[str, CommentedMap],
           meanings: dict[str, dict[str, Any]]) -> tuple[list[Path], Config]:
    """Check the directory as it would be, in a scratch copy (valid, and meaning what the
    LMS holds: `_check_meaning`), then write the files; the files and the config they
    make."""
    out = options.out
    existing = [out / name for name in documents if (out / name).exists()]
    if existing and not options.force:
        shown = ", ".join(str(p) for p in existing)
        raise LmsformError(f"export would overwrite {shown}; nothing was written. Use "
                           "--force to overwrite, or --out DIR for another directory")
    with writing("the exported manifests to", out):
        return _write_checked(out, documents, meanings)


def _write_checked(out: Path, documents: dict[str, CommentedMap],
                   meanings: dict[str, dict[str, Any]]) -> tuple[list[Path], Config]:
    yaml = _yaml()
    out.parent.mkdir(parents=True, exist_ok=True)
    # beside `out`, so that relative paths (`include: [../shared]`) read the same from it
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".lmsform-export-") as scratch:
        trial = Path(scratch)
        if out.is_dir():
            for path in out.iterdir():
                if path.is_file() and path.suffix.lower() in {".yaml", ".yml"} and \
                        path.name not in documents:
                    shutil.copy(path, trial / path.name)
        for name, document in documents.items():
            with (trial / name).open("w", encoding="utf-8") as handle:
                yaml.dump(document, handle)
        checked = _check_as_out(trial, out)
        _check_meaning(checked, meanings)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in documents:
            atomic_write(out / name, (trial / name).read_text(encoding="utf-8"))
            written.append(out / name)
        if checked.state == FileSettings():  # the state in `out/.lmsform`, as init keeps it
            ignore = out / ".gitignore"
            text = gitignore(ignore)
            if not ignore.exists() or ignore.read_text(encoding="utf-8") != text:
                atomic_write(ignore, text)
                written.append(ignore)
    return written, checked


def _meanings(exported: dict[str, list[Exported]], provider: Provider
              ) -> dict[str, dict[str, Any]]:
    """Address -> canonical attributes: what each exported resource's manifest entry
    must mean once loaded, which is what the LMS holds of the fields it writes."""
    caps = provider.capabilities.kinds
    meanings: dict[str, dict[str, Any]] = {}
    for kind, items in exported.items():
        for item in items:
            written = _manifest_fields(kind, item.attrs, caps[kind].fields)
            meanings[f"{kind}.{item.key}"] = kinds.get(kind).meaning(item.attrs, written)
    return meanings


def _check_meaning(config: Config, meanings: dict[str, dict[str, Any]]) -> None:
    """The files, loaded as a plan loads them, must say what was read from the LMS, field by
    field: valid files are not enough (an escape or a quote written wrong would make them
    say something else). Refused with the fields named (never their values)."""
    differing = []
    for address, meant in meanings.items():
        declared = config.resources.get(address)
        if declared is None:
            differing.append(f"{address} (not declared under that name)")
        elif declared.attrs != meant or "custom" in meant:
            fields = _differing(declared.attrs, meant)
            if fields:
                differing.append(f"{address} ({', '.join(fields)})")
    if differing:
        shown = "; ".join(differing[:10]) + (f"; and {len(differing) - 10} more"
                                             if len(differing) > 10 else "")
        raise LmsformError(f"the exported files would not say what the LMS holds: {shown}. "
                           "Nothing was written; please report this as a bug in lmsform")


def _check_as_out(trial: Path, out: Path) -> Config:
    """Load the scratch copy as a config; its errors name the files as `out` will hold them,
    since the scratch directory is gone by the time the user reads them."""
    try:
        with helper.unforked():  # under the state lock
            return load_config(trial)
    except ManifestError as error:
        scratch, final = display_path(trial), display_path(out)
        lines = [str(p).replace(scratch, final) for p in error.problems]
        lines.append(f"the exported files would not make {final} a valid config directory; "
                     "nothing was written")
        raise LmsformError("\n".join(lines)) from None


def _same_lms(state: State, provider: Provider) -> None:
    """A state belongs to one LMS: exporting another one into it is refused."""
    recorded = state.data.provider
    if recorded is not None and state.resources and \
            (recorded.type != provider.type_name or not provider.is_instance(recorded.instance)):
        raise LmsformError(
            f"the state at {state.backend.location()} belongs to {recorded.type} "
            f"'{recorded.instance}', not to {provider.identity()}; refusing to mix them: "
            "export into another directory (--out)")


def _record(state: State, config: Config, exported: dict[str, list[Exported]],
            provider: Provider) -> None:
    """Every exported resource in the state (its lock held), as the manifests declare it."""
    state.data.provider = providers.recorded_identity(provider)
    for kind, items in exported.items():  # one step: saved whole, or not at all
        for item in items:
            address = f"{kind}.{item.key}"
            declared = config.resources.get(address)
            attributes = declared.attrs if declared else item.attrs
            protected = declared is not None and declared.lifecycle.prevent_destroy
            state.put(address, StateEntry(kind=kind, id=item.id, attributes=dict(attributes),
                                          prevent_destroy=protected))
    state.save()
