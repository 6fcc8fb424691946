"""The simulators are a distribution of their own, lmsform-simulators (simulators/ in this
repository), released with lmsform at its version; lmsform ships none of them."""

from __future__ import annotations

from importlib.metadata import EntryPoints, distribution, entry_points

import pytest

import lmsform_simulators
from lmsform import __version__, plugins
from tests.support import lmsform

VENDORS = ["aomlms", "braincert", "coursetoolkit", "ilms", "learnworlds"]


def test_released_at_lmsforms_version() -> None:
    assert lmsform_simulators.__version__ == __version__
    assert distribution("lmsform-simulators").version == __version__


def test_the_simulators_register_from_their_own_distribution() -> None:
    found = entry_points(group="lmsform.simulators")
    assert sorted(e.name for e in found) == VENDORS
    assert {e.dist.name for e in found if e.dist is not None} == {"lmsform-simulators"}
    assert {e.module.split(".")[0] for e in found} == {"lmsform_simulators"}
    assert not distribution("lmsform").entry_points.select(group="lmsform.simulators")


@pytest.fixture
def without_simulators(monkeypatch: pytest.MonkeyPatch) -> None:
    """lmsform as `pip install lmsform` leaves it: no entry point in lmsform.simulators."""
    every = plugins.entry_points

    def entry_points(*, group: str) -> EntryPoints:
        return EntryPoints(()) if group == "lmsform.simulators" else every(group=group)

    monkeypatch.setattr(plugins, "entry_points", entry_points)


@pytest.mark.parametrize("args", [[], ["ilms"], ["ilms", "--port", "8080"]])
@pytest.mark.usefixtures("without_simulators")
def test_without_the_simulators_simulate_says_where_they_are(args: list[str]) -> None:
    result = lmsform("simulate", *args)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no simulators are installed: they are the distribution lmsform-simulators, in "
        "the simulators/ directory of lmsform's repository (from a checkout: pip install "
        "./simulators)\n")
    assert result.stdout == ""


@pytest.mark.usefixtures("without_simulators")
def test_without_the_simulators_the_help_says_where_they_are() -> None:
    result = lmsform("simulate", "--help")
    assert result.exit_code == 0
    assert "No simulators are installed" in result.output
    assert "pip install ./simulators" in " ".join(result.output.split())
