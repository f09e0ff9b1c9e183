from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    name = "points"
    verbose_name = _("Points")

    def ready(self):
        from membership import hooks

        from membership.hooks import changelist_of

        from .sections import member_points_render, points_timeline
        from .selectors import member_points_data

        hooks.personal_data("points", export=member_points_data)
        hooks.member_section("points", title=_("Points: available, frozen, expiring"), order=30)(member_points_render)
        hooks.member_tool("points", label=_("Points ledger"), kind="see", order=30)(
            lambda *, member, request: changelist_of("points_pointsentry", member, "points.view_pointsentry", request)
        )
        hooks.member_timeline("points")(points_timeline)
