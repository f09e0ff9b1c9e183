from django.apps import AppConfig
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class RiskControlConfig(AppConfig):
    name = "riskcontrol"
    verbose_name = _("Risk control")

    def ready(self):
        from membership import hooks

        from . import sections
        from .admin import suspend_benefits
        from .guard import BlacklistGuard
        from .selectors import adjustments_waiting_count, member_risk_data
        from .services import adjustments_import_job, anomaly_check_after_booking, list_entries_import_job, member_alerts_erase

        hooks.earning_guard(BlacklistGuard())
        hooks.on_booking_committed("anomaly check")(anomaly_check_after_booking)
        hooks.member_section("risk", title=_("Risk control"), order=60)(sections.member_risk_render)
        hooks.member_admin_action(suspend_benefits)
        sections.member_tools_register(hooks)
        hooks.approval_queue(
            "adjustments", label=_("Manual adjustments"), decided=sections.adjustment_decisions,
            url=lambda: reverse("admin:riskcontrol_manualadjustment_changelist") + "?approval=waiting",
        )(adjustments_waiting_count)
        hooks.personal_data("risk_control", export=member_risk_data, erase=member_alerts_erase)
        hooks.import_kind("adjustments", label=_("Adjustments"), permission="riskcontrol.add_manualadjustment", on_job_page=False)(
            adjustments_import_job
        )
        hooks.import_kind("lists", label=_("List entries"), permission="riskcontrol.add_listentry", on_job_page=False)(
            list_entries_import_job
        )
