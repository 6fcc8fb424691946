"""The impact section (`lmsform.impact`): what the operations mean for people, one line per
fact, the first few names and the rest counted, someone becoming admin first and flagged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from lmsform.impact import escalates, price_direction
from lmsform.plan import Action, CourseAccess, Impact, Plan, PriceChange
from lmsform.render.escaping import (
    code,
    inert,
)

IMPACT_SHOWN = 5  # names listed per fact; the rest are counted ("and 97 more")
NO_IMPACT = "none on access, roles, users, prices or coupons"
T = TypeVar("T")


def text_impact(plan: Plan) -> list[str]:
    """The impact section of text and summary plans: one line per fact, an escalation to
    admin in red and flagged `!`."""
    if plan.impact is None:
        return []
    facts = _impact_facts(plan.impact, inert, "->")
    if not facts:
        return [f"Impact: {NO_IMPACT}.", ""]
    return ["Impact:", *(click.style(f"  ! {line}", fg="red", bold=True) if flagged
                         else f"  {line}" for flagged, line in facts), ""]


def markdown_impact(plan: Plan, shown: int = IMPACT_SHOWN) -> list[str]:
    if plan.impact is None:
        return []
    facts = _impact_facts(plan.impact, code, "→", shown)
    if not facts:
        return [f"**Impact:** {NO_IMPACT}.", ""]
    return ["**Impact**", "", *(f"- ⚠️ **{line}**" if flagged else f"- {line}"
                                for flagged, line in facts), ""]


def _impact_facts(impact: Impact, name: Callable[[str], str], arrow: str,
                 shown: int = IMPACT_SHOWN) -> list[tuple[bool, str]]:
    """One line per fact, each flagged when a reviewer must not miss it (someone becomes
    admin): every name from the manifests or the LMS through `name` (`inert`, or `code`
    for Markdown), at most `shown` of them a line, the rest counted."""
    def role(value: str | None) -> str:
        return "none" if value is None else name(value)

    facts: list[tuple[bool, str]] = []
    for flagged, verbs, rest in ((True, ("becomes", "become"), " admin"),
                                 (False, ("changes", "change"), " role")):
        changes = [c for c in impact.privilege_changes if escalates(c) == flagged]
        if changes:
            facts.append((flagged, _fact(
                f"{_count(len(changes), 'user')} {_verb(len(changes), *verbs)}{rest}",
                changes, shown,
                lambda c: f"{name(c.user)} ({role(c.before)} {arrow} {role(c.after)})")))
    for access, verbs in ((impact.access_granted, ("gains", "gain")),
                          (impact.access_revoked, ("loses", "lose"))):
        if access:
            facts.append((False, _access_fact(access, verbs, name, shown)))
    for users, done in ((impact.users_created, "created"), (impact.users_deactivated,
                        "deactivated"), (impact.users_reactivated, "reactivated"),
                        (impact.users_deleted, "deleted")):
        if users:
            facts.append((False, _fact(f"{_count(len(users), 'user')} {done}", users,
                                       shown, name)))
    facts += [(False, line) for line in _money_facts(impact, name, arrow, shown)]
    return facts


def _access_fact(access: list[CourseAccess], verbs: tuple[str, str],
                 name: Callable[[str], str], shown: int) -> str:
    users = len({user for a in access for user in a.users})
    return _fact(f"{_count(users, 'user')} {_verb(users, *verbs)} access to "
                 f"{_count(len(access), 'course')}", access, shown,
                 lambda a: f"{name(a.course)} ({_listed(a.users, shown, name)})")


def _money_facts(impact: Impact, name: Callable[[str], str], arrow: str,
                 shown: int) -> list[str]:
    """Prices added, raised, lowered, changed and removed; coupons created, changed and
    removed, with their discount and the courses it applies to."""
    def price(change: PriceChange) -> str:
        before, after = (name(_price(p)) for p in (change.before, change.after))
        shown_as = {"added": after, "removed": before}.get(price_direction(change),
                                                           f"{before} {arrow} {after}")
        return f"{name(change.course)} {name(change.plan)}: {shown_as}"

    lines = []
    for direction in ("added", "raised", "lowered", "changed", "removed"):
        found = [p for p in impact.pricing_changes if price_direction(p) == direction]
        if found:
            lines.append(_fact(f"{_count(len(found), 'price')} {direction}", found, shown,
                               price))
    for actions, done in (({Action.CREATE}, "created"),
                          ({Action.UPDATE, Action.REPLACE}, "changed"),
                          ({Action.DELETE}, "removed")):
        coupons = [c for c in impact.coupon_changes if c.action in actions]
        if coupons:
            lines.append(_fact(
                f"{_count(len(coupons), 'coupon')} {done}", coupons, shown,
                lambda c: f"{name(c.code)} ({name(_discount(c.discount))} off "
                          f"{_listed(c.courses, shown, name) if c.courses else 'every course'})"))
    return lines


def _fact(head: str, items: Sequence[T], shown: int, show: Callable[[T], str]) -> str:
    """`head: a, b, c, and 97 more`; `head.` alone where no names are shown."""
    return f"{head}: {_listed(items, shown, show)}" if shown else f"{head}."


def _listed(items: Sequence[T], shown: int, show: Callable[[T], str]) -> str:
    """The first `shown` items, the rest counted; only those shown are rendered."""
    listed = ", ".join(show(item) for item in items[:shown])
    rest = len(items) - shown
    return f"{listed}, and {rest:,} more" if rest > 0 else listed


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _verb(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _price(attrs: Any) -> str:
    """`49.00 USD`, `100.00 EUR yearly`; a hidden price as the plan shows it."""
    if not isinstance(attrs, dict):
        return str(attrs)
    billing = attrs.get("billing")
    return " ".join(str(part) for part in (attrs.get("amount"), attrs.get("currency"),
                                           None if billing == "one_time" else billing)
                    if part is not None)


def _discount(discount: Any) -> str:
    """`10%`, `5.00 USD`; a hidden discount as the plan shows it."""
    if isinstance(discount, dict) and discount.get("percent") is not None:
        return f"{discount['percent']}%"
    if isinstance(discount, dict):
        return f"{discount.get('amount')} {discount.get('currency')}"
    return str(discount)
