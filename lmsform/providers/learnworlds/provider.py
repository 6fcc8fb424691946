"""The `learnworlds` provider as lmsform loads it: its name, its settings and one handler
per kind, over the school that the handlers read and write."""

from __future__ import annotations

from lmsform.providers.learnworlds.handlers import Coupons, Courses, Groups, Users
from lmsform.providers.learnworlds.school import LearnworldsSchool
from lmsform.providers.learnworlds.settings import LearnworldsSettings


class LearnworldsProvider(LearnworldsSchool):
    type_name = "learnworlds"
    description = ("LearnWorlds API v2: users with tags, roles and suspension, user groups, "
                   "courses with a price, enrollments, coupons")
    settings_model = LearnworldsSettings
    handlers = {"course": Courses, "group": Groups, "user": Users, "coupon": Coupons}
