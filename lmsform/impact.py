"""Impact: what a plan does to people, beside what it does to records.

A reviewer reads `groups: [] -> ["Managers"]` on one user and `courses: [a] -> [a, b]` on a
group; what the change means is that Ada, and every other member of Managers, the LMS's
own unmanaged users included, gains access to course b. Those consequences are spread over
operations (and over resources no operation touches), so they are worked out here, once the
plan's operations are final (selected, ordered, secrets hidden), from those operations and
from what the plan read of the LMS (`Matched.live`), and put at the head of every plan.

This is the one module that knows what users, groups, courses and coupons mean to people:
a user reaches a course by enrollment, or through a group where the provider says its groups
give their members their courses (`KindSupport.member_access`, declared by the group kind's
handler); an inactive user reaches nothing; a role is a privilege. The engine elsewhere
names no kind.

Every value comes from the operations as the plan shows them, or from the LMS for what no
operation carries (the members of a group whose courses change). A fact that would depend
on a value the plan hides as "(sensitive)" is left out, never guessed at.

A converged plan has no operations and no impact: nothing here runs. An apply from empty is
one pass over its operations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any, get_args

from lmsform import kinds
from lmsform.kinds.user import Role
from lmsform.plan import (
    Action,
    CouponChange,
    CourseAccess,
    Impact,
    Operation,
    PriceChange,
    RoleChange,
)
from lmsform.providers.base import Capabilities
from lmsform.resources import SENSITIVE

USER, GROUP, COURSE, COUPON = "user", "group", "course", "coupon"
EMAIL, GROUPS, ENROLLMENTS, ROLE = "email", "groups", "enrollments", "role"  # a user's
COURSES = "courses"  # a group's, and a coupon's
PRICING, DISCOUNT = "pricing", "discount"
ROLES: tuple[str, ...] = get_args(Role)  # least privilege first
ADMIN = ROLES[-1]

# kind -> live id -> the resource as the plan read it (references as address keys)
LiveViews = Mapping[str, Mapping[str, dict[str, Any]]]
# the fields of a declared resource that took a value from the environment, by address
Sensitive = Callable[[str], frozenset[str]]
Courses = frozenset[str]
NONE: Courses = frozenset()


def of(operations: list[Operation], live: LiveViews, capabilities: Capabilities,
       sensitive: Sensitive = lambda address: frozenset()) -> Impact | None:
    """The impact of these operations on an LMS holding `live`; None when there are none."""
    if not operations:
        return None
    by_kind: dict[str, list[Operation]] = defaultdict(list)
    for op in operations:
        if not op.action.state_only:
            by_kind[op.kind].append(op)
    users = by_kind[USER]
    granted, revoked = _Access(by_kind, live, capabilities, sensitive).changes()
    created, deleted, deactivated, reactivated = _lifecycle(users)
    return Impact(
        access_granted=granted, access_revoked=revoked,
        privilege_changes=_privileges(users),
        users_created=created, users_deleted=deleted,
        users_deactivated=deactivated, users_reactivated=reactivated,
        pricing_changes=sorted((p for op in by_kind[COURSE] for p in _prices(op)),
                               key=lambda p: (p.course, p.plan)),
        coupon_changes=sorted((_coupon(op) for op in by_kind[COUPON]), key=lambda c: c.code),
    )


def _key(op: Operation) -> str:
    """The resource's address key: a user's email, a course's key, a coupon's code."""
    return op.address.partition(".")[2]


def _email(op: Operation) -> str:
    """A user's email as its address names it: the string its attributes already hold,
    where that is the one (no second copy of 100k new users' emails), else the address's
    own (a pruned duplicate's names its id too)."""
    email = (op.after if op.after is not None else op.before or {}).get(EMAIL)
    address = op.address
    if isinstance(email, str) and len(address) == len(USER) + 1 + len(email) \
            and address.endswith(email):
        return email
    return _key(op)


def _hidden(value: Any) -> bool:
    return isinstance(value, str) and value == SENSITIVE


def _lifecycle(users: list[Operation]) -> tuple[list[str], list[str], list[str], list[str]]:
    """The users created, deleted, deactivated and reactivated, by email."""
    created, deleted, deactivated, reactivated = [], [], [], []
    for op in users:
        if op.action == Action.CREATE:
            created.append(_email(op))
        elif op.action == Action.DELETE:
            deleted.append(_email(op))
        elif op.switches_off:
            deactivated.append(_email(op))
        elif op.switches_on:
            reactivated.append(_email(op))
    return sorted(created), sorted(deleted), sorted(deactivated), sorted(reactivated)


def _rank(role: Any) -> int | None:
    return ROLES.index(role) if role in ROLES else None


def _privileges(users: list[Operation]) -> list[RoleChange]:
    """Changed roles; a new user's where it is above the least. Escalations to admin first."""
    found = []
    for op in users:
        if op.action == Action.CREATE:
            role = (op.after or {}).get(ROLE)
            if _hidden(role) or (role is not None and _rank(role) != 0):
                found.append(RoleChange(user=_email(op), before=None, after=role))
        elif op.changes:
            found += [RoleChange(user=_email(op), before=c.before, after=c.after)
                      for c in op.changes if c.field == ROLE]
    return sorted(found, key=lambda c: (not escalates(c), c.user))


def escalates(change: RoleChange) -> bool:
    """A user who becomes admin: what a reviewer must not miss."""
    return change.after == ADMIN and change.before != ADMIN


class _Access:
    """Who reaches which course before the plan and after it: the users the operations
    change, and the LMS's other users wherever a group they are in, or a course they hold,
    changes. A user reaches a course enrolled in it, or through a group where the provider's
    groups give members their courses; an inactive user reaches nothing."""

    def __init__(self, by_kind: Mapping[str, list[Operation]], live: LiveViews,
                 capabilities: Capabilities, sensitive: Sensitive) -> None:
        self.users, self.live_users = by_kind.get(USER, []), live.get(USER, {})
        self.sensitive = sensitive
        self.active = kinds.get(USER).active_field or ""
        self.gone = frozenset(_key(op) for op in by_kind.get(COURSE, [])
                              if op.action == Action.DELETE)
        support = capabilities.kinds.get(GROUP)
        through_groups = support is not None and COURSES in support.member_access
        self.unknown: set[str] = set()  # groups whose courses are hidden: `_group_courses`
        self.before, self.after = self._group_courses(
            by_kind.get(GROUP, []) if through_groups else [],
            live.get(GROUP, {}) if through_groups else {})
        self.granted: dict[str, list[str]] = defaultdict(list)
        self.revoked: dict[str, list[str]] = defaultdict(list)

    def changes(self) -> tuple[list[CourseAccess], list[CourseAccess]]:
        """Access granted and revoked, per course, users sorted."""
        for op in self.users:
            if op.action == Action.CREATE:
                self._compare(_email(op), None, op.after, revoke=False)
            else:  # a user deleted or switched off is listed as such, not as losing courses
                leaves = op.action == Action.DELETE or op.switches_off
                self._compare(_email(op), op.before, None if op.action == Action.DELETE
                              else op.after, revoke=not leaves)
        changed = {g for g in self.before.keys() | self.after.keys()
                   if self.before.get(g) != self.after.get(g)}
        if changed or self.gone:
            self._unchanged_users(changed)
        return _per_course(self.granted), _per_course(self.revoked)

    def _unchanged_users(self, groups: set[str]) -> None:
        """The LMS's users no operation changes, in a group whose courses change or holding
        a course the plan deletes."""
        changing = {op.id for op in self.users if op.id is not None}
        user = kinds.get(USER)
        hidden = {GROUPS, ENROLLMENTS, self.active}
        for live_id, view in self.live_users.items():
            if live_id in changing or not (
                    any(g in groups for g in view.get(GROUPS) or ())
                    or any(c in self.gone for c in view.get(ENROLLMENTS) or ())):
                continue
            email = user.address_key(view)
            if hidden.isdisjoint(self.sensitive(f"{USER}.{email}")):
                self._compare(email, view, view, revoke=True)

    def _compare(self, email: str, before: Mapping[str, Any] | None,
                 after: Mapping[str, Any] | None, *, revoke: bool) -> None:
        """What one user gains and loses; None: no such user on that side."""
        had = self._reach(before, self.before, NONE) if before is not None else NONE
        has = self._reach(after, self.after, self.gone) if after is not None else NONE
        if had is None or has is None:
            return  # a value it depends on is hidden
        for course in has - had if had else has:  # (a new user had nothing: no copy)
            self.granted[course].append(email)
        if revoke and had:
            for course in had - has:
                self.revoked[course].append(email)

    def _reach(self, user: Mapping[str, Any], groups: Mapping[str, Courses], gone: Courses
               ) -> AbstractSet[str] | None:
        """The courses a user with these attributes reaches; None where that depends on a
        hidden value."""
        active, enrolled, member_of = (user.get(self.active), user.get(ENROLLMENTS),
                                       user.get(GROUPS))
        if SENSITIVE in (active, enrolled, member_of) or \
                not self.unknown.isdisjoint(member_of or ()):
            return None  # what it reaches through a hidden group is not known
        if active is False:
            return NONE
        reached = set(enrolled or ())
        for group in member_of or ():
            reached.update(groups.get(group, ()))
        return reached - gone if gone else reached

    def _group_courses(self, operations: list[Operation], views: Mapping[str, dict[str, Any]]
                       ) -> tuple[dict[str, Courses], dict[str, Courses]]:
        """Each group's courses before and after the plan, by the key its members name it
        by. A group whose courses are hidden (on either side, or in the manifests) is left
        out, and a user in one on either side is left out of access (`_reach`): what it
        reaches through it is not known."""
        changing = {op.id: op for op in operations if op.id is not None}
        group = kinds.get(GROUP)
        before: dict[str, Courses] = {}
        hidden: set[str] = set()
        for live_id, view in views.items():
            op = changing.get(live_id)
            key = _key(op) if op is not None else group.address_key(view)
            before[key] = frozenset(view.get(COURSES) or ())
        for key in before:
            if COURSES in self.sensitive(f"{GROUP}.{key}"):
                hidden.add(key)
        after = dict(before)
        for op in operations:
            key = _key(op)
            if op.action == Action.DELETE:
                after.pop(key, None)
            elif any(_hidden((side or {}).get(COURSES)) for side in (op.before, op.after)):
                hidden.add(key)
            elif op.after is not None:
                after[key] = frozenset(op.after.get(COURSES) or ())
        self.unknown = hidden
        return _without(before, hidden, NONE), _without(after, hidden, self.gone)


def _without(groups: dict[str, Courses], hidden: set[str], gone: Courses
             ) -> dict[str, Courses]:
    return {g: courses - gone for g, courses in groups.items() if g not in hidden}


def _per_course(users: Mapping[str, list[str]]) -> list[CourseAccess]:
    return [CourseAccess(course=course, users=sorted(users[course]))
            for course in sorted(users)]


def _prices(op: Operation) -> Iterator[PriceChange]:
    """A course's prices added, removed or changed, per pricing plan."""
    course = _key(op)
    if op.action == Action.CREATE:
        yield from _per_plan(course, None, (op.after or {}).get(PRICING))
    elif op.action == Action.DELETE:
        yield from _per_plan(course, (op.before or {}).get(PRICING), None)
    else:
        for change in op.changes:
            name, _, plan = change.field.partition("[")
            if name != PRICING:
                continue
            if plan:  # `pricing[standard]`: one plan
                yield PriceChange(course=course, plan=plan.removesuffix("]"),
                                  before=change.before, after=change.after)
            else:  # the whole field, where one side had none
                yield from _per_plan(course, change.before, change.after)


def _per_plan(course: str, before: Any, after: Any) -> Iterable[PriceChange]:
    if _hidden(before) or _hidden(after):  # not even the plans' names are shown
        return [PriceChange(course=course, plan=SENSITIVE,
                            before=None if before is None else SENSITIVE,
                            after=None if after is None else SENSITIVE)]
    before, after = before or {}, after or {}
    return [PriceChange(course=course, plan=plan, before=before.get(plan),
                        after=after.get(plan))
            for plan in sorted(before.keys() | after.keys(), key=str)
            if before.get(plan) != after.get(plan)]


def price_direction(change: PriceChange) -> str:
    """`added`, `removed`, `raised`, `lowered`, or `changed` (another currency or billing,
    or a hidden value)."""
    before, after = change.before, change.after
    if before is None or after is None:
        return "added" if before is None else "removed"
    if isinstance(before, dict) and isinstance(after, dict) and all(
            before.get(k) == after.get(k) for k in ("currency", "billing")):
        try:
            old, new = Decimal(str(before.get("amount"))), Decimal(str(after.get("amount")))
            if new != old:
                return "raised" if new > old else "lowered"
        except ArithmeticError:  # not a number (NaN does not compare)
            pass
    return "changed"


def _coupon(op: Operation) -> CouponChange:
    """A coupon's discount and the courses it applies to, as it will be (as it was, for a
    delete)."""
    side = (op.before if op.action == Action.DELETE else op.after) or {}
    courses = side.get(COURSES)
    return CouponChange(code=_key(op), action=op.action, discount=side.get(DISCOUNT),
                        courses=[SENSITIVE] if _hidden(courses) else courses or None)
