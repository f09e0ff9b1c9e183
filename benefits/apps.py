from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BenefitsConfig(AppConfig):
    name = "benefits"
    verbose_name = _("Benefits")

    def ready(self):
        from membership.presets import preset_section

        from .services import benefit_catalog_sync

        preset_section("benefits")(benefit_catalog_sync)
