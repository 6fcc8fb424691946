"""Resources: how the LMS's ids become address keys (`LiveNames`)."""

from __future__ import annotations

from lmsform.resources import LiveNames, live_view, live_views


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


def test_a_listing_is_made_canonical_a_field_at_a_time_as_each_resource_alone() -> None:
    """`live_views` (a field at a time across a listing) gives what the engine made one
    resource at a time before it, for every kind with references: ids known and unknown,
    unsorted and repeated members, ints for ids, absent and null fields."""
    listing = {
        "user": [{"email": "Ada@X.io", "department": 7, "groups": ["2", "1", "2", 99],
                  "enrollments": [], "role": "admin"},
                 {"email": "bob@x.io", "department": None, "groups": ["1"]}],
        "group": [{"name": "Sales", "courses": ["5", "4"]}, {"name": "Ops"}],
        "coupon": [{"code": "A", "courses": ["4", "77"]}],
        "department": [{"name": "Field", "division": "3"}],
        "division": [{"name": "EMEA", "region": "8"}],
    }
    expected = {
        "user": ([{"email": "ada@x.io", "department": "A/B/C",
                   "groups": ["#99", "Managers", "Sales"], "enrollments": [], "role": "admin"},
                  {"email": "bob@x.io", "department": None, "groups": ["Managers"]}],
                 {"group.#99": "99"}),
        "group": ([{"name": "Sales", "courses": ["advanced", "intro"]}, {"name": "Ops"}], {}),
        "coupon": ([{"code": "A", "courses": ["#77", "intro"]}], {"course.#77": "77"}),
        "department": ([{"name": "Field", "division": "#3"}], {"division.#3": "3"}),
        "division": ([{"name": "EMEA", "region": "Europe"}], {}),
    }

    def names() -> LiveNames:
        found = LiveNames()
        for kind, vendor_id, key in [("group", "1", "Managers"), ("group", "2", "Sales"),
                                     ("course", "4", "intro"), ("course", "5", "advanced"),
                                     ("department", "7", "A/B/C"), ("region", "8", "Europe")]:
            found.name(kind, vendor_id, key)
        return found

    for kind, rows in listing.items():
        one_names, all_names = names(), names()
        alone = [live_view(kind, dict(row), one_names) for row in rows]
        together = [dict(row) for row in rows]
        live_views(kind, together, all_names)
        assert (together, all_names.unnamed) == expected[kind], kind
        assert (alone, one_names.unnamed) == expected[kind], kind
