"""What a LearnWorlds school is configured with, and the API's documented numbers and field
names that the handlers and the provider share."""

from __future__ import annotations

from pydantic import Field, SecretStr

from lmsform.kinds.user import Role
from lmsform.providers.http import HttpProviderSettings
from lmsform.providers.paging import Pages
from lmsform.providers.records import Discounts, FieldMap
from lmsform.providers.toolkit import CustomKey

TOKEN_PATH = "/oauth2/access_token"
# "LearnWorlds has a Rate limit of 30 requests / 10 sec": the default pace, evenly spread.
DOCUMENTED_RATE = 30 / 10
# Items asked for per page: the maximum the description documents for `items_per_page`
# (an integer from 1 to 200, on GET /v2/users and GET /v2/courses/{id}/users; the other lists
# take no size and answer their own). Answers say how many pages there are
# (`meta.totalPages`), so a lower server cap still works.
ITEMS_PER_PAGE = 200
# Lists put the most recently created first, as documented, and take no order: a record
# created between two pages pushes the rest down by one. The shared pager knows records by
# their id and reads a listing that moved again.
PAGES = Pages(size=ITEMS_PER_PAGE, page_param="page", size_param="items_per_page",
              items="data", total_pages="meta.totalPages", total_header=None, id_field="id")
# The group member list is described as paged 20 at a time, while its schema is a bare array.
GROUP_MEMBERS_PAGE = 20
# lmsform's roles -> the access level of the school role used by default, and the title of
# the built-in role of that level preferred among several (a school also has "Course creator"
# at the instructor level, for one).
ROLE_LEVELS: dict[str, str] = {"learner": "user", "instructor": "instructor", "admin": "admin"}
ROLE_TITLES: dict[str, str] = {"learner": "User", "instructor": "Instructor", "admin": "Admin"}
# A promotion's discount; one of another type is read as a share off.
DISCOUNTS = Discounts(percent="percentage", amount="fixed", otherwise="percent")
PROFILE = FieldMap({"email": "email", "username": "username"})
COURSE = FieldMap({"title": "title", "description": "description", "categories": "categories"},
                  write={"description": lambda text: text or "",
                         "categories": lambda names: list(names or [])})
DRAFT = "draft"
# The custom fields of users and coupons, each with its rule
USER_CUSTOM: dict[str, CustomKey] = {
    "tags": (lambda tags: isinstance(tags, list) and all(isinstance(t, str) for t in tags),
             "custom.tags is a list of tags (text)")}
COUPON_CUSTOM: dict[str, CustomKey] = {
    "promotion": (lambda name: isinstance(name, str), "custom.promotion is a promotion's name")}


class LearnworldsSettings(HttpProviderSettings):
    base_url: str  # the API URL LearnWorlds gives the school, ending in /admin/api
    client_id: str  # also sent as the Lw-Client header on every request
    client_secret: SecretStr
    # lmsform role -> the school role (its id or title) to give; by default the school's
    # built-in role of that access level (user, instructor, admin)
    roles: dict[Role, str] = Field(default_factory=dict)
    # a course's one price: read back as this pricing plan, in the school's currency
    price_plan: str = "standard"
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    send_enrollment_email: bool = False
