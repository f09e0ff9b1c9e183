from django.apps import AppConfig
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from membership import hooks

        from . import sections
        from . import tasks  # noqa: F401 (registers the tasks that services queue by name)
        from .limits import campaign_budgets_shared, campaign_limits_session
        from .presets import CAMPAIGN_PRESETS
        from .selectors import campaigns_waiting_count
        from .services import campaign_presets_sync

        hooks.earning_limit("campaigns")(campaign_limits_session)
        hooks.shared_limit("campaigns")(campaign_budgets_shared)
        hooks.preset_section("campaigns", specs=CAMPAIGN_PRESETS)(campaign_presets_sync)
        hooks.approval_queue(
            "campaigns", label=_("Campaigns"), decided=sections.campaign_decisions_shown,
            url=lambda: reverse("admin:campaigns_campaign_changelist") + "?phase=submitted",
        )(campaigns_waiting_count)
