"""The StateBackend contract: the engine speaks only to it, so a third party's backend works
as the file backend does; the manifests choose one and its settings are validated."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lmsform import backends, plugins, snapshot
from lmsform.backends import BackendSettings, Record, StateBackend
from lmsform.errors import StateLockedError
from lmsform.testing import StateBackendConformance
from tests.support import Org, lmsform


class MemorySettings(BackendSettings):
    name: str


class MemoryBackend(StateBackend):
    """Everything in a class-level dict, as a database would hold it."""

    name = "memory"
    settings_model = MemorySettings
    stores: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, settings: BackendSettings, config_dir: Path) -> None:
        super().__init__(settings, config_dir)
        assert isinstance(settings, MemorySettings)
        self.store = self.stores.setdefault(settings.name, {"journal": [], "lock": None})

    def location(self) -> str:
        return f"memory:{self.settings.name}"  # type: ignore[attr-defined]

    def read(self) -> str | None:
        return self.store.get("snapshot")

    def write(self, snapshot: str) -> None:
        self.store["snapshot"] = snapshot
        self.store["journal"] = []

    def append(self, record: Record) -> None:
        self.store["journal"].append(record)

    def sync(self) -> None:
        pass

    def replay(self) -> Iterator[Record]:
        yield from self.store["journal"]

    @contextlib.contextmanager
    def lock(self, operation: str) -> Iterator[None]:
        if self.store["lock"]:
            raise StateLockedError(f"locked by {self.store['lock']}")
        self.store["lock"] = operation
        try:
            yield
        finally:
            self.store["lock"] = None

    def lock_holder(self) -> dict[str, Any] | None:
        return {"operation": self.store["lock"]} if self.store["lock"] else None

    def force_unlock(self) -> bool:
        held, self.store["lock"] = self.store["lock"], None
        return bool(held)


@pytest.fixture
def memory_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = [
        EntryPoint("file", "lmsform.backends.file:FileBackend", backends.GROUP),
        EntryPoint("memory", f"{__name__}:MemoryBackend", backends.GROUP),
    ]
    real = plugins.entry_points

    def entry_points(group: str) -> list[EntryPoint]:
        return installed if group == backends.GROUP else list(real(group=group))

    monkeypatch.setattr(plugins, "entry_points", entry_points)
    MemoryBackend.stores.clear()


def test_a_third_party_backend_holds_the_state_of_an_apply(memory_backend: None,
                                                            org: Org) -> None:
    org.edit("main.yaml", "state:\n  path: state.json\n",
             "state:\n  backend: memory\n  name: acme\n")
    result = org.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert not org.state_path.exists()
    store = MemoryBackend.stores["acme"]
    assert "user.ada@example.com" in snapshot.decode(store["snapshot"]).resources
    assert store["journal"] == []
    assert org.run("plan", "--detailed-exitcode").exit_code == 0
    listed = org.run("state", "list").output
    assert "user.ada@example.com" in listed and "group.Managers" in listed
    store["lock"] = "apply"
    locked = org.run("apply", "--auto-approve")
    assert locked.exit_code == 1 and "locked by apply" in locked.output
    assert "Released the state lock" in org.run("state", "unlock", "--force").output


def test_an_unknown_backend_or_setting_is_a_located_manifest_error(memory_backend: None,
                                                                   org: Org) -> None:
    org.edit("main.yaml", "state:\n  path: state.json\n", "state:\n  backend: s3\n")
    result = org.run("validate")
    assert result.exit_code == 1
    assert "main.yaml:6:12: error: state.backend: no state backend named 's3' is installed " \
           "(installed: file, memory)" in result.output
    org.edit("main.yaml", "backend: s3\n", "backend: memory\n  path: x.json\n")
    result = lmsform("validate", "-C", str(org.dir))
    assert result.exit_code == 1
    assert "main.yaml:7:3: error: state.path: unknown field 'path'" in result.output
    assert "state.name: required field 'name' is missing" in result.output


def test_a_snapshot_without_its_lineage_is_damaged_in_any_backend(memory_backend: None,
                                                                   org: Org) -> None:
    """The state, not each backend, decides what a whole snapshot is."""
    org.write("main.yaml", "provider: {type: local, path: lms.sqlite}\n"
                           "state: {backend: memory, name: acme}\n")
    assert org.run("apply", "--auto-approve").exit_code == 0
    MemoryBackend.stores["acme"]["snapshot"] = "{}"
    result = org.run("plan")
    assert result.exit_code == 1 and "is damaged, or not lmsform's state" in result.output


class TestAThirdPartyBackendConforms(StateBackendConformance):
    """The suite a plugin author runs, run on the backend above."""

    def make_backend(self, tmp_path: Path, name: str) -> StateBackend:
        return MemoryBackend(MemorySettings(name=f"{tmp_path}/{name}"), tmp_path)
