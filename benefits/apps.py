from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BenefitsConfig(AppConfig):
    name = "benefits"
    verbose_name = _("Benefits")

    def ready(self):
        from membership.presets import preset_section, program_schedule
        from membership.sections import member_section
        from membership.services import settlement_chunk_step

        from . import sections
        from .services import benefit_catalog_sync, benefits_schedule_sync, benefits_settlement_issue

        preset_section("benefits")(benefit_catalog_sync)
        program_schedule("benefits")(benefits_schedule_sync)
        settlement_chunk_step("benefits")(benefits_settlement_issue)
        member_section("benefits", title=_("Benefits"), order=40)(sections.member_benefits_render)
