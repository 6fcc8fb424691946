"""Secrets: what counts as showing one."""

from __future__ import annotations

from lmsform.secrets import Secrets


def test_credentials_are_found_inside_values_and_passwords_only_whole() -> None:
    secrets = Secrets((c for c in ["tr4nsaction-key"]), ["pw1", "hunter22"])
    assert secrets.shows("prefix tr4nsaction-key suffix")
    assert secrets.shows({"custom": ["x", "tr4nsaction-key"]})
    assert secrets.shows("hunter22") and not secrets.shows("my hunter22 story")
    assert not secrets.shows("pw") and not secrets.shows(3)
