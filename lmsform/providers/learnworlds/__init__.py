"""`learnworlds`: LearnWorlds API v2, with OAuth2 client credentials.

Built from the vendor's OpenAPI description of API v2 (the one LearnWorlds publishes on its
Stoplight portal; the shared overview lost its paths). Every call goes to the school's API URL
(`https://yourschool.learnworlds.com/admin/api`) plus `/v2/...`, with a bearer token from the
client credentials grant at `<API URL>/oauth2/access_token` and the client id in the
`Lw-Client` header. Listings page with `page` and `items_per_page` and tell their size in a
`meta` block; failures are `{"errors": [{"code", "context", "message"}], "success": false}` or
`{"error": "..."}`. LearnWorlds allows 30 requests in 10 seconds: that is the default pace.

What the API cannot do shapes the rest, and is refused at plan time rather than at apply:
- users cannot be deleted, only suspended (`user_removal: deactivate`); users have no first or
  last name, only a `username`;
- courses and user groups cannot be deleted, and a course's id is its key (its `titleId`),
  so a course key cannot change;
- a course has one price: a single one-time pricing plan (in the school's currency);
- coupons live inside promotions, which carry the discount and the courses: lmsform keeps one
  promotion per discount shape, or uses the one `custom: {promotion: NAME}` names; coupons can
  be created but never changed or deleted;
- the region/division/department hierarchy does not exist.
Memberships are read per group and enrollments per course (one paged listing each), never one
request per user. Lists put the newest first and take no order, so the shared pager reads a
listing that moved while read again; a create answered "already taken" is adopted once a read
by its key (email, course id, code in its promotion) finds it.
"""

from lmsform.providers.learnworlds.api import LearnworldsErrors, LearnworldsToken
from lmsform.providers.learnworlds.handlers import Coupons, Courses, Groups, Users
from lmsform.providers.learnworlds.provider import LearnworldsProvider
from lmsform.providers.learnworlds.settings import (
    DOCUMENTED_RATE,
    GROUP_MEMBERS_PAGE,
    ITEMS_PER_PAGE,
    PAGES,
    TOKEN_PATH,
    LearnworldsSettings,
)

__all__ = ["DOCUMENTED_RATE", "GROUP_MEMBERS_PAGE", "ITEMS_PER_PAGE", "PAGES", "TOKEN_PATH",
           "Coupons", "Courses", "Groups", "LearnworldsErrors", "LearnworldsProvider",
           "LearnworldsSettings", "LearnworldsToken", "Users"]
