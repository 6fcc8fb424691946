"""Every vendor provider passes the conformance suite a third party's provider would run
(`lmsform.testing`), each against its simulator over a real socket, with its example's
settings. The `local` provider runs it in test_local.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsform import providers
from lmsform.config import load_config
from lmsform.providers.base import Provider
from lmsform.testing import ProviderConformance, Sample
from lmsform_simulators.aomlms import AomlmsSimulator
from lmsform_simulators.base import Simulator
from lmsform_simulators.braincert import BraincertSimulator
from lmsform_simulators.coursetoolkit import CoursetoolkitSimulator
from lmsform_simulators.ilms import IlmsSimulator
from lmsform_simulators.learnworlds import LearnworldsSimulator
from tests.support import vendor_example


class VendorConformance(ProviderConformance):
    """One vendor's example config, pointed at a simulator of its own."""

    vendor = ""

    def simulator(self) -> Simulator:
        raise NotImplementedError

    def make_provider(self, request: pytest.FixtureRequest) -> Provider:
        directory = getattr(request.node, "conformance_lms", None)
        if directory is None:
            directory = request.node.conformance_lms = self._lms(request)
        config = load_config(directory)
        return providers.open_provider(config.provider, config.directory, config.secrets())

    def _lms(self, request: pytest.FixtureRequest) -> Path:
        """A simulator for this test, and the example config pointed at it."""
        sim = self.simulator()
        sim.start()
        request.addfinalizer(sim.stop)
        return vendor_example(self.vendor, sim, request.getfixturevalue("tmp_path") / self.vendor,
                              request.getfixturevalue("monkeypatch")).dir


class TestIlmsConforms(VendorConformance):
    vendor = "ilms"

    def simulator(self) -> Simulator:
        return IlmsSimulator()

    def samples(self) -> list[Sample]:
        return [
            Sample("region", {"name": "Conformance"}, {"name": "Conformance Region"}),
            Sample("division", {"name": "Sales", "region": "Conformance"}),
            Sample("department", {"name": "Inside", "division": "Conformance/Sales"}),
            Sample("user", {"email": "ada@example.com", "first_name": "Ada",
                            "last_name": "Lovelace", "department": "Conformance/Sales/Inside",
                            "job_title": "Engineer"},
                   {"first_name": "Augusta"}),
        ]


class TestBraincertConforms(VendorConformance):
    vendor = "braincert"

    def simulator(self) -> Simulator:
        return BraincertSimulator()

    def samples(self) -> list[Sample]:
        return [
            Sample("course", {"title": "Conformance", "description": "A course",
                              "published": True}, {"description": "Revised"}),
            Sample("group", {"name": "Team", "description": "People"}),
            Sample("user", {"email": "ada@example.com", "first_name": "Ada",
                            "last_name": "Lovelace", "username": "ada"}),
            Sample("coupon", {"code": "TEN", "discount": {"percent": "10"},
                              "usage_limit": 5}),
        ]


class TestAomlmsConforms(VendorConformance):
    vendor = "aomlms"

    def simulator(self) -> Simulator:
        return AomlmsSimulator()

    def samples(self) -> list[Sample]:
        return [
            Sample("course", {"title": "Conformance", "key": "conformance",
                              "published": True}, {"title": "Conformance, revised"}),
            Sample("user", {"email": "ada@example.com", "first_name": "Ada",
                            "last_name": "Lovelace"}, {"last_name": "King"}),
            Sample("coupon", {"code": "TEN", "discount": {"percent": "10"},
                              "usage_limit": 5}, {"usage_limit": 6}),
        ]


class TestLearnworldsConforms(VendorConformance):
    vendor = "learnworlds"

    def simulator(self) -> Simulator:
        return LearnworldsSimulator(rate_limit=None)

    def samples(self) -> list[Sample]:
        return [
            Sample("course", {"key": "conformance", "title": "Conformance",
                              "description": "A course"}, {"title": "Conformance, revised"}),
            Sample("group", {"name": "Team", "description": "People"},
                   {"description": "Everyone"}),
            Sample("user", {"email": "ada@example.com", "username": "ada",
                            "role": "learner"}, {"username": "augusta"}),
        ]


class TestCoursetoolkitConforms(VendorConformance):
    vendor = "coursetoolkit"

    def simulator(self) -> Simulator:
        return CoursetoolkitSimulator()

    def samples(self) -> list[Sample]:
        return [Sample("user", {"email": "ada@example.com"})]
