"""The `aomlms` provider as lmsform loads it: its name, its settings and one handler per
kind, over the school that the handlers read and write."""

from __future__ import annotations

from lmsform.providers.aomlms.handlers import Coupons, Courses, Users
from lmsform.providers.aomlms.school import AomlmsSchool
from lmsform.providers.aomlms.settings import AomlmsSettings


class AomlmsProvider(AomlmsSchool):
    type_name = "aomlms"
    description = "AOM LMS (Academy of Mine): users, courses with categories, enrollments, coupons"
    settings_model = AomlmsSettings
    handlers = {"course": Courses, "user": Users, "coupon": Coupons}
