from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = _("Paid membership")

    def ready(self):
        from membership.presets import preset_section, program_schedule
        from membership.sections import member_section

        from . import conditions  # noqa: F401  (registers the paid-membership conditions of the daily rules)
        from .sections import member_subscriptions_render
        from .services import plan_catalog_sync, subscriptions_schedule_sync

        preset_section("plans")(plan_catalog_sync)
        program_schedule("subscriptions")(subscriptions_schedule_sync)
        member_section("subscriptions", title=_("Paid membership"), order=45)(member_subscriptions_render)
