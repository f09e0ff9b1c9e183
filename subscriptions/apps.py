from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = _("Paid membership")

    def ready(self):
        from membership import hooks

        from . import conditions  # noqa: F401  (registers the paid-membership conditions of the daily rules)
        from .presets import SUBSCRIPTION_PRESETS
        from .sections import member_subscriptions_render
        from .services import member_subscriptions_data, orders_cashback_book, plan_catalog_sync, subscriptions_schedule_sync

        hooks.preset_section("plans", specs=SUBSCRIPTION_PRESETS)(plan_catalog_sync)
        hooks.program_schedule("subscriptions")(subscriptions_schedule_sync)
        hooks.on_orders_booked("cashback")(orders_cashback_book)
        hooks.personal_data("subscriptions", export=member_subscriptions_data)
        hooks.member_section("subscriptions", title=_("Paid membership"), order=45)(member_subscriptions_render)
