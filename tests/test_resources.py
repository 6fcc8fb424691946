"""Resources: how the LMS's ids become address keys (`LiveNames`)."""

from __future__ import annotations

from lmsform.resources import LiveNames


def test_an_unnamed_reference_never_takes_a_name() -> None:
    names = LiveNames(taken=lambda kind, key: (kind, key) == ("group", "##7"))
    names.name("group", "12", "#7")  # a group called `#7`, whose id is 12
    assert names.key_of("group", "12") == "#7"
    unnamed = names.key_of("group", 7)  # an id no listing gave
    assert unnamed == "###7"  # neither the listed `#7` nor the declared `##7`
    assert names.unnamed == {"group.###7": "7"}
    assert names.is_unnamed("group", unnamed) and not names.is_unnamed("group", "#7")
    assert names.key_of("group", "7") == unnamed  # the same id, the same key


def test_external_kinds_are_known_by_their_ids() -> None:
    names = LiveNames(external=frozenset({"department"}))
    assert names.key_of("department", 42) == "42"
    assert names.unnamed == {}
