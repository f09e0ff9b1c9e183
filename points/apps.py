from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    name = "points"
    verbose_name = _("Points")

    def ready(self):
        from membership import hooks

        from .sections import member_points_render
        from .selectors import member_points_data

        hooks.personal_data("points", export=member_points_data)
        hooks.member_section("points", title=_("Points: available, frozen, expiring"), order=30)(member_points_render)
