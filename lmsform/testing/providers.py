"""The provider conformance suite: a provider's capability table says only what the kinds
allow, and what it says it can do it does: what it creates it lists (or reads) back as it was
given, what it updates changes, what it deletes is gone, in the order the engine would ask.

A subclass gives a provider (against its LMS, or a simulator) and samples: one resource per
kind it can create, with references written as the address keys of earlier samples, as
manifests write them; the suite translates them into the LMS's ids, as apply does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from lmsform import kinds
from lmsform.providers.base import KindSupport, Provider
from lmsform.resources import address_key, map_references, normalise


@dataclass
class Sample:
    """A resource to create: its kind, its attributes (references by address key), and a
    change of some of them to update it with (none: the suite does not update it)."""

    kind: str
    attrs: dict[str, Any]
    update: dict[str, Any] = field(default_factory=dict)


class ProviderConformance:
    """Subclass as `TestSomething`; implement `make_provider` and `samples`."""

    def make_provider(self, request: pytest.FixtureRequest) -> Provider:
        """A provider on the LMS of this test: each call a new one on the same LMS, as each
        run of lmsform opens its own (a provider may keep what it listed for as long as it
        lives, one plan and its apply)."""
        raise NotImplementedError

    def samples(self) -> list[Sample]:
        """Resources to create, referenced ones first."""
        return []

    @pytest.fixture
    def provider(self, request: pytest.FixtureRequest) -> Any:
        made = self.make_provider(request)
        yield made
        made.close()

    def test_its_capabilities_say_only_what_the_kinds_allow(self, provider: Provider) -> None:
        for name, support in provider.capabilities.kinds.items():
            assert name in kinds.registered, f"{name} is no kind"
            kind = kinds.get(name)
            allowed = set(kind.fields) | kind.identity_only
            for what in ("fields", "replace_fields", "fixed_fields", "grow_only_fields",
                         "required_on_create", "unlisted_fields"):
                extra = set(getattr(support, what)) - allowed
                assert not extra, f"{name}.{what} names no field of the kind: {extra}"
            assert not support.unlisted_fields & set(kind.references), \
                f"{name}: a reference cannot be an unlisted field"
            if support.custom_keys is not None or support.custom_sets:
                assert "custom" in support.fields, f"{name}: custom keys without custom"
        for name in provider.capabilities.external_kinds:
            assert name in kinds.registered, f"external kind {name} is no kind"

    def test_its_identity_names_the_lms(self, provider: Provider) -> None:
        assert provider.identity().startswith(f"{provider.type_name}:")

    def test_what_it_creates_it_reads_back_updates_and_deletes(
            self, request: pytest.FixtureRequest) -> None:
        ids: dict[tuple[str, str], str] = {}
        read = _Reader(lambda: self.make_provider(request), ids)
        with contextlib.closing(self.make_provider(request)) as provider:
            for sample in self.samples():
                assert provider.capabilities.kinds[sample.kind].create, sample.kind
                sent = map_references(sample.kind, sample.attrs, lambda k, v: ids[k, str(v)])
                new_id = provider.create(sample.kind, sent)
                ids[sample.kind, address_key(sample.kind, sample.attrs)] = new_id
        for sample in self.samples():
            read.holds(sample.kind, ids[_key(sample)], sample.attrs)
        with contextlib.closing(self.make_provider(request)) as provider:
            for sample in self.samples():
                if sample.update and provider.capabilities.kinds[sample.kind].update:
                    _update(provider, sample, ids, read)
        for sample in self.samples():
            updated = sample.update and read.caps(sample.kind).update
            read.holds(sample.kind, ids[_key(sample)],
                       {**sample.attrs, **sample.update} if updated else sample.attrs)
        with contextlib.closing(self.make_provider(request)) as provider:
            for sample in reversed(self.samples()):
                if provider.capabilities.kinds[sample.kind].delete:
                    provider.delete(sample.kind, ids[_key(sample)])
        for sample in self.samples():
            if read.caps(sample.kind).delete:
                assert read.live(sample.kind, ids[_key(sample)]) is None, \
                    f"{_key(sample)} still there after delete"


def _key(sample: Sample) -> tuple[str, str]:
    return sample.kind, address_key(sample.kind, sample.attrs)


def _update(provider: Provider, sample: Sample, ids: dict[tuple[str, str], str],
            read: _Reader) -> None:
    changes = map_references(sample.kind, sample.update, lambda k, v: ids[k, str(v)])
    before = read.live(sample.kind, ids[_key(sample)]) or {}
    provider.update(sample.kind, ids[_key(sample)], changes, before)


class _Reader:
    """Reads the LMS as a new run of lmsform would: each time through a new provider."""

    def __init__(self, make: Callable[[], Provider], ids: dict[tuple[str, str], str]) -> None:
        self.make, self.ids = make, ids

    def caps(self, kind: str) -> KindSupport:
        with contextlib.closing(self.make()) as provider:
            return provider.capabilities.kinds[kind]

    def live(self, kind: str, resource_id: str) -> dict[str, Any] | None:
        """A live resource's attributes, references as address keys; None when gone."""
        keys = {(k, i): key for (k, key), i in self.ids.items()}
        with contextlib.closing(self.make()) as provider:
            support = provider.capabilities.kinds[kind]
            found = provider.list_all(kind) if support.listable \
                else provider.read(kind, [resource_id])
            for live in found:
                if live.id == resource_id:
                    attrs = provider.normalise(kind, dict(live.attrs))
                    return map_references(kind, attrs,
                                          lambda k, v: keys.get((k, str(v)), str(v)))
        return None

    def holds(self, kind: str, resource_id: str, expected: dict[str, Any]) -> None:
        """The LMS holds the fields it stores as `expected` says, in canonical form."""
        live = self.live(kind, resource_id)
        assert live is not None, f"{kind} {resource_id} is not listed after it was created"
        support = self.caps(kind)
        stored = {k: v for k, v in expected.items()
                  if k in support.fields and k not in kinds.get(kind).write_only}
        want = normalise(kind, stored)
        got = normalise(kind, {k: live.get(k) for k in stored})
        assert got == want, f"{kind} {resource_id}: the LMS holds {got}, was given {want}"
