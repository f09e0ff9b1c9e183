from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BenefitsConfig(AppConfig):
    name = "benefits"
    verbose_name = _("Benefits")

    def ready(self):
        from membership import hooks

        from membership.hooks import changelist_of

        from . import sections
        from .selectors import member_benefits_data
        from .services import benefit_catalog_sync, benefits_schedule_sync, benefits_settlement_issue

        hooks.preset_section("benefits")(benefit_catalog_sync)
        hooks.program_schedule("benefits")(benefits_schedule_sync)
        hooks.settlement_chunk_step("benefits")(benefits_settlement_issue)
        hooks.personal_data("benefits", export=member_benefits_data)
        hooks.member_section("benefits", title=_("Benefits"), order=40)(sections.member_benefits_render)
        hooks.member_tool("grants", label=_("Benefit grants"), kind="see", order=50)(
            lambda *, member, request: changelist_of("benefits_benefitgrant", member, "benefits.view_benefitgrant", request)
        )
        hooks.member_timeline("benefits")(sections.benefits_timeline)
