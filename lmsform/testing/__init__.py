"""Conformance suites for plugin authors: what every state backend and every provider must
do, as pytest test classes to subclass (needs pytest).

    from lmsform.testing import StateBackendConformance

    class TestMyBackend(StateBackendConformance):
        def make_backend(self, tmp_path, name):
            return MyBackend(MySettings(name=name), tmp_path)

lmsform's own backends and providers run the same suites, so a third party's plugin is held to
what the built-in ones are (Terraform's state manager tests are the model).
"""

from __future__ import annotations

from lmsform.testing.backends import StateBackendConformance
from lmsform.testing.providers import ProviderConformance, Sample

__all__ = ["ProviderConformance", "Sample", "StateBackendConformance"]
