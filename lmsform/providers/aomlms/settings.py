"""What an AOM LMS school is configured with, and the API's fixed numbers, orders and field
names that the handlers and the school share."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from lmsform.providers.http import HttpProviderSettings
from lmsform.providers.paging import Pages
from lmsform.providers.records import Discounts, FieldMap, day
from lmsform.providers.urls import json_param

API_PREFIX = "/api"
# Every listing is asked for by id, ascending (the document's `order_by`, over a column of the
# records): every page is cut from one fixed order, and a row created while it is read lands
# after the pages already read. Not created_at: a bulk upload makes many users in one second,
# and a tie has no fixed order between pages. `recordsFiltered` counts what the pages hold
# (`recordsTotal` counts before any search).
OLDEST_FIRST = json_param({"colName": "id", "direction": "asc"})
NEWEST_FIRST = json_param({"colName": "id", "direction": "desc"})
PAGES = Pages(size=100, page_param="page_number", size_param="page_size",
              items="records", total_items="recordsFiltered", total_header=None,
              id_field="id")
# How many of the newest pages of users a bulk upload's users are looked for in before the
# unpaged user lookup: above them sit only the users created since, a batch per other thread.
NEWEST_PAGES = 10
# The document's neutral values for what a course create requires and lmsform does not manage.
COURSE_DEFAULTS = {"gradingRule": "no_grading", "durationRule": "unlimited"}
STATUS = {True: "publish", False: "draft"}
DISCOUNTS = Discounts(percent="percent_amount", amount="fixed_amount")
# "2 student(s) not deleted as they has enrollments...": the delete calls' partial refusal.
NOT_DELETED = re.compile(r"(\d+)\s*\w+\(s\)\s+not deleted", re.IGNORECASE)
# A course slug is part of the course's URL.
SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# lmsform's user fields -> AOM's names in the one-user record (`active` is `not disabled`)
USER = FieldMap({"first_name": "firstName", "last_name": "lastName", "email": "email",
                 "active": "disabled"},
                write={"first_name": lambda text: text or "", "last_name": lambda text: text or "",
                       "email": lambda text: text or "", "active": lambda active: not active})
# ...and their course fields, in the course record
COURSE = FieldMap({"key": "slug", "title": "name", "published": "status", "credits": "credits"},
                  write={"published": lambda on: STATUS[bool(on)]})
COUPON = FieldMap({"code": "code", "usage_limit": "usage_limit", "expires": "expiry"},
                  write={"expires": day})
# The user record's read-only parts, never sent back in an update.
USER_READ_ONLY = ("lastLoggedIn", "avatar", "id")
COURSE_READ_ONLY = ("associatedProduct", "hasAssociatedProduct", "id", "featuredImageUrl")
# Users per `user/bulkUpload` call (the document names no limit).
BULK_SIZE = 100
DATE_FORMATS = ("%Y-%m-%d", "%b %d, %Y", "%d %b %Y", "%Y-%m-%d %H:%M:%S")


class AomlmsSettings(HttpProviderSettings):
    base_url: str  # the school's own host, e.g. https://yourschool.aomlms.com
    token: SecretStr  # sent as `Authorization: Bearer <token>`
    # AOM's fixed-amount coupons carry no currency: they are in the school's own
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    # new users in batches through user/bulkUpload; false: one user/create each
    bulk_upload: bool = True

    @field_validator("base_url")
    @classmethod
    def _host(cls, value: str) -> str:
        """The API lives under /api on the school's host; a URL given with it is accepted."""
        value = value.rstrip("/")
        return value[: -len(API_PREFIX)] if value.endswith(API_PREFIX) else value
