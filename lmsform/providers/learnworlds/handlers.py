"""The kinds LearnWorlds manages, one handler each: users, groups, courses and coupons, and
the vendor's rules on each that the plan refuses early."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lmsform.errors import LmsformError, ProviderError
from lmsform.providers.base import Handler
from lmsform.providers.learnworlds.api import _id
from lmsform.providers.learnworlds.settings import (
    COUPON_CUSTOM,
    COURSE,
    DISCOUNTS,
    DRAFT,
    PROFILE,
    ROLE_LEVELS,
    ROLE_TITLES,
    USER_CUSTOM,
)
from lmsform.providers.paging import dig
from lmsform.providers.records import day, pick, records
from lmsform.providers.toolkit import Call, CustomKey, custom_rule
from lmsform.providers.urls import segment
from lmsform.resources import LiveResource, decimal_text

if TYPE_CHECKING:  # the school the handlers reach, named in their base class
    from lmsform.providers.learnworlds.school import LearnworldsSchool  # noqa: F401


class Users(Handler["LearnworldsSchool"]):
    """Users with a username, tags, a role and suspension; their groups and enrollments are
    read from each group's and course's listing."""

    fields = frozenset({"email", "username", "role", "active", "groups", "enrollments",
                        "password", "custom"})
    custom_sets = custom_keys = frozenset(USER_CUSTOM)
    advice = ("LearnWorlds' API cannot delete users: lmsform suspends them "
              "(settings.user_removal: deactivate).")

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        return _custom_rule("user", attrs, USER_CUSTOM)

    def list_all(self) -> list[LiveResource]:
        groups, courses = self.lms._memberships(), self.lms._enrollments()
        return [LiveResource(_id(u), {**self._attrs(u), "groups": groups.get(_id(u), []),
                                      "enrollments": courses.get(_id(u), [])})
                for u in self.lms._users()]

    def create(self, attrs: dict[str, Any]) -> str:
        email = str(attrs["email"])
        body: dict[str, Any] = {"email": email, "username": attrs.get("username") or email,
                                "send_registration_email": False}
        if attrs.get("password"):
            body["password"] = str(attrs["password"])
        tags = (attrs.get("custom") or {}).get("tags")
        if tags:
            body["tags"] = list(tags)
        user = self.lms._create("POST", "/v2/users", json=body,
                                find=lambda: self._by_email(email), keys=("id",))
        # A new account is an active learner: only what differs is sent.
        rest = {k: attrs[k] for k in ("groups", "enrollments") if attrs.get(k)}
        if attrs.get("role") not in (None, "learner"):
            rest["role"] = attrs["role"]
        if attrs.get("active") is False:
            rest["active"] = False
        self.update(user, rest, {})
        return user

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        lms = self.lms
        profile = PROFILE.to_vendor(changes)
        if profile:
            lms.http.request("PUT", f"/v2/users/{segment(id)}", safe=True, json=profile)
        if isinstance(changes.get("custom"), dict) and "tags" in changes["custom"]:
            self._set_tags(id, changes["custom"]["tags"] or [],
                           (before.get("custom") or {}).get("tags") or [])
        if changes.get("role") is not None:
            self._set_role(id, str(changes["role"]))
        if "active" in changes and changes["active"] is not None:
            self._set_active(id, bool(changes["active"]))
        if "groups" in changes:
            lms._sync(changes["groups"] or [], before.get("groups") or [],
                      add=lambda g: Call("POST", _member_path(g, id)),
                      remove=lambda g: Call("DELETE", _member_path(g, id)),
                      present=lambda g: id in lms._members(g), already=(400, 409, 422))
        if "enrollments" in changes:
            lms._sync(changes["enrollments"] or [], before.get("enrollments") or [],
                      add=lambda c: Call("POST", f"/v2/users/{segment(id)}/enrollment",
                                         json=self._enrollment(c)),
                      remove=lambda c: Call("DELETE", f"/v2/users/{segment(id)}/enrollment",
                                            json={"productId": c, "productType": "course"}),
                      present=lambda c: id in lms._enrolled(c), already=(400, 409, 422))

    def deactivate(self, id: str) -> None:
        self._set_active(id, False)

    def _attrs(self, user: dict[str, Any]) -> dict[str, Any]:
        tags = user.get("tags")
        return {"email": user.get("email"), "username": user.get("username"),
                "role": self._role_of(user),
                "active": not bool(user.get("is_suspended")),
                "custom": {"tags": sorted({str(t) for t in tags})
                           if isinstance(tags, list) else []}}

    def _role_of(self, user: dict[str, Any]) -> str | None:
        """lmsform's name for a user's role: a role the provider block maps, else by access
        level; a level lmsform has no name for is shown as it is (say, `reporter`)."""
        found = user.get("role")
        role: dict[str, Any] = found if isinstance(found, dict) else {}
        for ours, theirs in self.lms.settings.roles.items():
            if theirs in (role.get("name"), role.get("id")):
                return ours
        level = role.get("level") or ("admin" if user.get("is_admin") else
                                      "instructor" if user.get("is_instructor") else "user")
        named = next((r for r, lvl in ROLE_LEVELS.items() if lvl == level), None)
        return named or str(level)

    def _by_email(self, email: str) -> str | None:
        """A user's id by email (the one-user read takes either): a create's check."""
        found = self.lms._record(f"/v2/users/{segment(email)}", {"include_suspended": "true"})
        if not found or not found.get("id") or str(found.get("email")).lower() != email.lower():
            return None
        return _id(found)

    def _enrollment(self, course: str) -> dict[str, Any]:
        return {"productId": course, "productType": "course", "price": 0,
                "justification": "Enrolled by lmsform",
                "send_enrollment_email": self.lms.settings.send_enrollment_email}

    def _set_tags(self, user: str, after: list[str], before: list[str]) -> None:
        """Attach and detach are set operations: sending either again changes nothing."""
        for action, tags in (("attach", set(after) - set(before)),
                             ("detach", set(before) - set(after))):
            if tags:
                self.lms.http.request("PUT", f"/v2/users/{segment(user)}/tags", safe=True,
                                      json={"tags": sorted(tags), "action": action})

    def _set_active(self, user: str, active: bool) -> None:
        path = f"/v2/users/{segment(user)}/" + ("unsuspend" if active else "suspend")
        self.lms.http.request("PUT", path, safe=True)

    def _set_role(self, user: str, role: str) -> None:
        school_role = self._school_role(role)
        body: dict[str, Any] = {"role_id": school_role["id"]}
        if school_role.get("access_level") == "instructor":
            body["assigned_courses"] = []  # required for instructors; lmsform assigns none
        self.lms.http.request("PUT", f"/v2/users/{segment(user)}/user-role", safe=True,
                              json=body)

    def _school_role(self, role: str) -> dict[str, Any]:
        """The school role for an lmsform role: the one the provider block names (id or
        title), else the school's built-in role of that access level, the one titled after
        it first."""
        lms = self.lms
        roles = lms._cached("roles", lambda: records(
            lms.http.call("GET", "/v2/user-roles", safe=True), "data"))
        wanted = next((theirs for ours, theirs in lms.settings.roles.items() if ours == role),
                      None)
        level = ROLE_LEVELS.get(role)
        for candidate in sorted(roles, key=lambda r: (bool(r.get("custom_role")),
                                                      r.get("title") != ROLE_TITLES.get(role),
                                                      str(r.get("title")))):
            if wanted is not None and wanted in (candidate.get("id"), candidate.get("title")):
                return candidate
            if wanted is None and level is not None and candidate.get("access_level") == level:
                return candidate
        raise ProviderError("GET /v2/user-roles", f"the school has no role for lmsform's "
                            f"'{role}' ({wanted or f'access level {level}'}); name one in "
                            f"the provider block's roles: {role}: ROLE")


class Groups(Handler["LearnworldsSchool"]):
    """User groups, with the courses they give."""

    fields = frozenset({"name", "description", "courses"})
    advice = "LearnWorlds' API cannot delete user groups; delete it in LearnWorlds."

    def list_all(self) -> list[LiveResource]:
        return [LiveResource(_id(g), _group_attrs(g)) for g in self.lms._groups()]

    def create(self, attrs: dict[str, Any]) -> str:
        name = str(attrs["name"])
        body = {"title": name, "description": attrs.get("description") or "",
                "products": {"courses": list(attrs.get("courses") or [])}}
        self.lms._forget("groups")
        return self.lms._create("POST", "/v2/user_groups", json=body, keys=("id",),
                                find=lambda: next((_id(g) for g in self.lms._listing(
                                    "/v2/user_groups") if g.get("title") == name), None))

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        """The update replaces the group: what lmsform does not manage is sent back as read."""
        record = self.lms._record(f"/v2/user_groups/{segment(id)}")
        if record is None:
            raise ProviderError(f"GET /v2/user_groups/{id}", "the user group no longer exists",
                                status=404)
        body: dict[str, Any] = {
            "title": changes.get("name", record.get("title")),
            "description": changes.get("description", record.get("description")) or "",
            "products": {"courses": list(changes["courses"] or []) if "courses" in changes
                         else _group_attrs(record)["courses"]}}
        for kept in ("enroll_users_on_courses", "tags", "max_number_of_users"):
            if record.get(kept) is not None:
                body[kept] = record[kept]
        managers = record.get("group_managers")
        if isinstance(managers, list):
            body["group_managers"] = [m.get("id") if isinstance(m, dict) else m
                                      for m in managers]
        self.lms.http.request("PUT", f"/v2/user_groups/{segment(id)}", safe=True, json=body)


class Courses(Handler["LearnworldsSchool"]):
    """Courses known by their key (`titleId`), with one price."""

    fields = frozenset({"key", "title", "description", "published", "categories", "pricing"})
    fixed_fields = frozenset({"key"})
    advice = ("LearnWorlds' API cannot delete courses or change a course's id (its key); do "
              "that in LearnWorlds.")

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        pricing = attrs.get("pricing")
        plans = list(pricing.values()) if isinstance(pricing, dict) else list(pricing or [])
        if len(plans) > 1:
            return [("pricing", "a LearnWorlds course has one price: declare at most one plan")]
        if plans and (plans[0].get("billing") or "one_time") != "one_time":
            return [("pricing", "a LearnWorlds course's price is paid once: billing must be "
                                "one_time (subscriptions are not managed by lmsform)")]
        return []

    def list_all(self) -> list[LiveResource]:
        return [LiveResource(_id(c), self._attrs(c)) for c in self.lms._courses()]

    def create(self, attrs: dict[str, Any]) -> str:
        key = str(attrs["key"])
        body: dict[str, Any] = {"titleId": key, "title": attrs["title"],
                                "price": float(self._price(attrs)),
                                "access": self._access(attrs, DRAFT)}
        if attrs.get("description"):
            body["description"] = attrs["description"]
        if attrs.get("categories"):
            body["categories"] = list(attrs["categories"])
        self.lms._forget("courses")
        return self.lms._create("POST", "/v2/courses", json=body, keys=("id",),
                                find=lambda: key if self.lms._record(
                                    f"/v2/courses/{segment(key)}") else None)

    def update(self, id: str, changes: dict[str, Any], before: dict[str, Any]) -> None:
        course = f"/v2/courses/{segment(id)}"
        body = COURSE.to_vendor(changes)
        if "pricing" in changes:
            body["price"] = float(self._price(changes))
        if "published" in changes or "pricing" in changes:
            current = self.lms._record(course) or {}
            attrs = {**self._attrs({**current, "id": id}), **changes}
            body["access"] = self._access(attrs, str(current.get("access") or DRAFT))
        if body:
            self.lms.http.request("PUT", course, safe=True, json=body)

    def _attrs(self, course: dict[str, Any]) -> dict[str, Any]:
        settings = self.lms.settings
        price = pick(course, "original_price", "final_price", "price")
        pricing = ([{"plan": settings.price_plan, "amount": price,
                     "currency": settings.currency, "billing": "one_time"}]
                   if price not in (None, "") and Decimal(str(price)) > 0 else [])
        categories = course.get("categories")
        return {"key": _id(course), "title": course.get("title"),
                "description": course.get("description") or None,
                "published": str(course.get("access") or DRAFT) != DRAFT,
                "categories": list(categories) if isinstance(categories, list) else [],
                "pricing": pricing}

    def _price(self, attrs: dict[str, Any]) -> Decimal:
        """The course's one price; the plan name and currency must be the provider's."""
        settings = self.lms.settings
        plans = attrs.get("pricing") or {}
        if isinstance(plans, list):
            plans = {str(p.get("plan")): p for p in plans}
        if not plans:
            return Decimal(0)
        (plan, price), = plans.items()
        currency = str(price.get("currency", settings.currency)).upper()
        if plan != settings.price_plan or currency != settings.currency:
            raise LmsformError(
                f"pricing plan '{plan}' in {currency}: a LearnWorlds course has one price, "
                f"read back as plan '{settings.price_plan}' in "
                f"{settings.currency}; rename the plan, or set price_plan and currency "
                "in the provider block")
        return Decimal(str(price["amount"]))

    def _access(self, attrs: dict[str, Any], current: str) -> str:
        """`draft` for an unpublished course; a published one is `paid` when it has a price
        and `free` when not, unless it already has another published access (say,
        `private` or `coming_soon`), which lmsform keeps."""
        published = attrs.get("published")
        if published is None:
            return current
        if not published:
            return DRAFT
        if current not in (DRAFT, "paid", "free"):
            return current
        return "paid" if self._price(attrs) > 0 else "free"


class Coupons(Handler["LearnworldsSchool"]):
    """Coupons live inside promotions, which carry the discount and the courses: one
    promotion per discount shape, or the one `custom: {promotion: NAME}` names."""

    fields = frozenset({"code", "discount", "courses", "usage_limit", "expires", "custom"})
    custom_keys = frozenset(COUPON_CUSTOM)
    advice = ("LearnWorlds' API can create coupons but not change or delete them: change or "
              "delete it in LearnWorlds, or declare a new coupon with another code.")

    @classmethod
    def check(cls, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        return _custom_rule("coupon", attrs, COUPON_CUSTOM)

    def list_all(self) -> list[LiveResource]:
        """Every coupon of every promotion. A promotion lists its coupons; one that does not
        is asked for them."""
        lms = self.lms
        promotions = lms._promotions()
        unlisted = [p for p in promotions if not isinstance(p.get("coupons"), list)]
        asked = dict(zip([_id(p) for p in unlisted],
                         lms._each(unlisted, lambda p: self._coupons_of(_id(p))), strict=True))
        return [LiveResource(str(coupon["code"]), self._attrs(coupon, promotion))
                for promotion in promotions
                for coupon in asked.get(_id(promotion), promotion.get("coupons") or [])
                if isinstance(coupon, dict) and coupon.get("code")]

    def create(self, attrs: dict[str, Any]) -> str:
        code = str(attrs["code"])
        promotion = self._promotion_for(attrs)
        body: dict[str, Any] = {"code": code}
        if attrs.get("usage_limit") is not None:
            body["quantity"] = int(attrs["usage_limit"])
        if attrs.get("expires"):
            body["expires"] = day(attrs["expires"])
        path = f"/v2/promotions/{segment(promotion)}/coupons"

        def find() -> str | None:
            """The coupon in this promotion (a code taken in another one is not it)."""
            return next((str(c["code"]) for c in self._coupons_of(promotion)
                         if str(c.get("code")).lower() == code.lower()), None)

        answer = self.lms.http.request("POST", path, safe=False, json=body, landed=find,
                                       exists=find)
        return answer if isinstance(answer, str) else code

    def _coupons_of(self, promotion: str) -> list[dict[str, Any]]:
        return records(self.lms.http.call(
            "GET", f"/v2/promotions/{segment(promotion)}/coupons", safe=True), "data")

    def _attrs(self, coupon: dict[str, Any], promotion: dict[str, Any]) -> dict[str, Any]:
        return {"code": coupon["code"], "discount": self._discount_of(promotion),
                "courses": _promoted_courses(promotion),
                "usage_limit": coupon.get("quantity"),
                "expires": coupon.get("expires") or None,
                "custom": {"promotion": promotion.get("name")}}

    def _discount_of(self, promotion: dict[str, Any]) -> dict[str, Any]:
        return DISCOUNTS.from_vendor(promotion.get("type"), promotion.get("value"),
                                     self.lms.settings.currency)

    def _promotion_for(self, attrs: dict[str, Any]) -> str:
        """The promotion a coupon goes in: the one named in custom.promotion, else the one
        lmsform keeps for its discount and courses; created when missing (one at a time, so
        that two coupons never make two promotions)."""
        lms = self.lms
        wanted = self._promotion_body(attrs)
        name = wanted["name"]
        with lms._promotions_lock:
            if not lms._promotion_names:  # the promotions as read once, then as made
                lms._promotion_names.update({str(p.get("name")): p
                                             for p in lms._promotions()})
            found = lms._promotion_names.get(name)
            if found is None:
                answer = lms.http.request("POST", "/v2/promotions", safe=False, json=wanted,
                                          landed=lambda: self._promotion_named(name))
                found = lms._promotion_names[name] = {**wanted,
                                                      "id": lms._new_id(answer, ("id",))}
        shape = (self._discount_of(found), sorted(_promoted_courses(found)))
        if shape != (self._discount_of(wanted), sorted(_promoted_courses(wanted))):
            raise LmsformError(
                f"coupon {attrs['code']}: promotion '{name}' gives another discount "
                "or other courses; name another promotion in custom.promotion, or leave it out")
        return _id(found)

    def _promotion_named(self, name: str) -> str | None:
        return next((_id(p) for p in self.lms._listing("/v2/promotions")
                     if p.get("name") == name), None)

    def _promotion_body(self, attrs: dict[str, Any]) -> dict[str, Any]:
        discount = attrs["discount"]
        word, value = DISCOUNTS.to_vendor(discount)
        percent = word == DISCOUNTS.percent
        courses = sorted(attrs.get("courses") or [])
        off = (f"{decimal_text(value)}%" if percent
               else f"{decimal_text(value, 2)} {discount.get('currency')}")
        name = (attrs.get("custom") or {}).get("promotion") or (
            f"lmsform: {off} off {', '.join(courses) if courses else 'all courses'}")
        currency = self.lms.settings.currency
        if not percent and str(discount.get("currency")).upper() != currency:
            raise LmsformError(f"coupon {attrs['code']}: a fixed discount is in the school's "
                               f"currency, {currency}; set currency in the provider block")
        return {"name": name, "type": word, "value": float(value),
                "applies_to_all": ["none"] if courses else ["courses"],
                "products": [{"type": "course", "id": c} for c in courses]}


def _custom_rule(kind: str, attrs: dict[str, Any], keys: dict[str, CustomKey]
                 ) -> list[tuple[str, str]]:
    return custom_rule("LearnWorlds", kind, attrs, keys, f"manages {', '.join(sorted(keys))}")


def _group_attrs(group: dict[str, Any]) -> dict[str, Any]:
    courses = dig(group, "products.courses")
    if not isinstance(courses, list):
        courses = []
    return {"name": group.get("title"), "description": group.get("description") or None,
            "courses": [str(c.get("id")) if isinstance(c, dict) else str(c) for c in courses]}


def _promoted_courses(promotion: dict[str, Any]) -> list[str]:
    products = promotion.get("products")
    return [str(p.get("id")) for p in (products if isinstance(products, list) else [])
            if isinstance(p, dict) and p.get("type", "course") == "course" and p.get("id")]


def _member_path(group: str, user: str) -> str:
    return f"/v2/user_groups/{segment(group)}/users/{segment(user)}"
