from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = _("Points mall")

    def ready(self):
        from membership.presets import preset_section
        from membership.sections import member_section

        from .catalog import mall_catalog_sync
        from .services import cash_offset_policy_sync
        from .sections import member_spending_render

        preset_section("mall")(mall_catalog_sync)
        preset_section("cash_offset")(cash_offset_policy_sync)
        member_section("mall", title=_("Redemptions and draws"), order=60)(member_spending_render)
