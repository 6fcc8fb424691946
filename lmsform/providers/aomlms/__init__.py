"""`aomlms`: AOM LMS (Academy of Mine), through the school's REST API.

AOM's API is a Laravel application under `/api` on the school's own host, authenticated with
a bearer token. It manages users (with a `disabled` switch), courses (with a slug, a status,
credits and categories) and their enrollments, and coupons. Listings are "tabular lists":
`page_size` and `page_number` in the query, answering `{"recordsTotal", "recordsFiltered",
"records"}`, always asked for by id ascending, so that pages are cut from one fixed order and
records created meanwhile land after them; the ids of a bulk upload's users are found in the
newest pages and the unpaged user lookup, never in a paged listing that other creates move.
Failures are Laravel's: 401 `{"message": "Unauthenticated."}`, 422 `{"message", "errors":
{field: [...]}}` (a taken email, slug, code or name is adopted once a read finds it); and the
delete calls answer 200 even when they refused some of the ids ("1 coupon(s) not deleted as
they are associated with orders"), which is a failure here.

What the API cannot do shapes the rest:
- the user list carries no `disabled` flag (only the one-user read does), so `active` is an
  unlisted field: the planner keeps the last applied value from state and reads by id only
  users state does not know; the course list carries no credits, likewise;
- a category create answers no id: it is found again by name in the category lookup;
- an unenrollment names the enrollment, not the user: enrollment ids are kept from the
  listings and looked up again when a course's enrollments changed since;
- a course update and a user update send the whole record: what the manifests do not manage
  is read first and sent back unchanged (a course's grading and duration rules, modules...).
Groups, the region/division/department hierarchy and course pricing are not in this API.
"""

from lmsform.providers.aomlms.api import Laravel
from lmsform.providers.aomlms.handlers import Coupons, Courses, Users
from lmsform.providers.aomlms.provider import AomlmsProvider
from lmsform.providers.aomlms.settings import API_PREFIX, BULK_SIZE, PAGES, AomlmsSettings

__all__ = ["API_PREFIX", "BULK_SIZE", "PAGES", "AomlmsProvider", "AomlmsSettings", "Coupons",
           "Courses", "Laravel", "Users"]
