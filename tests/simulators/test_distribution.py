"""The simulators are a distribution of their own, lmsform-simulators (simulators/ in this
repository), released with lmsform at its version; lmsform ships none of them."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

import lmsform
import lmsform_simulators

VENDORS = ["aomlms", "braincert", "coursetoolkit", "ilms", "learnworlds"]


def test_released_at_lmsforms_version() -> None:
    assert lmsform_simulators.__version__ == lmsform.__version__
    assert distribution("lmsform-simulators").version == lmsform.__version__


def test_the_simulators_register_from_their_own_distribution() -> None:
    found = entry_points(group="lmsform.simulators")
    assert sorted(e.name for e in found) == VENDORS
    assert {e.dist.name for e in found if e.dist is not None} == {"lmsform-simulators"}
    assert {e.module.split(".")[0] for e in found} == {"lmsform_simulators"}
    assert not distribution("lmsform").entry_points.select(group="lmsform.simulators")
