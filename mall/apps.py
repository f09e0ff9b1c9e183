from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = _("Points mall")

    def ready(self):
        from membership import hooks

        from .catalog import mall_catalog_sync
        from .presets import MALL_PRESETS
        from django.urls import reverse

        from membership.hooks import changelist_of

        from .sections import mall_timeline, member_spending_render
        from .selectors import member_spending_data
        from .services import cash_offset_policy_sync

        def by_preset(section):
            return {code: sections[section] for code, sections in MALL_PRESETS.items() if section in sections}

        hooks.preset_section("mall", specs=by_preset("mall"))(mall_catalog_sync)
        hooks.preset_section("cash_offset", specs=by_preset("cash_offset"))(cash_offset_policy_sync)
        hooks.personal_data("mall", export=member_spending_data)
        hooks.member_section("mall", title=_("Redemptions and draws"), order=60)(member_spending_render)
        hooks.member_tool("redeem", label=_("Redeem for the member"), order=30)(
            lambda *, member, request: reverse("admin:mall_redemption_redeem", args=[member.pk]) if request.user.has_perm("mall.redeem_for_member") else None
        )
        hooks.member_tool("redemptions", label=_("Redemptions"), kind="see", order=55)(
            lambda *, member, request: changelist_of("mall_redemption", member, "mall.view_redemption", request)
        )
        hooks.member_timeline("mall")(mall_timeline)
