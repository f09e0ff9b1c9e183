from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from common.admin import LedgerAdmin

from .selectors import member_level_progress_get
from .services import levels_validate
from .models import EarningRule, GrowthEntry, Level, LevelChange, Member, MemberEvent, Order, OrderCredit, Program, SettlementRun


class LevelFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        levels = [
            (form.cleaned_data["code"], form.cleaned_data["rank"], form.cleaned_data["threshold"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        levels_validate(levels)


class LevelInline(admin.TabularInline):
    model = Level
    formset = LevelFormSet
    extra = 0
    fields = ("rank", "code", "name", "name_en", "threshold", "validity_months")


class EarningRuleInline(admin.TabularInline):
    model = EarningRule
    extra = 0
    fields = ("code", "name", "kind", "currency", "priority", "params", "valid_from", "valid_until", "is_active")


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_active", "growth_window_months", "settlement_day", "points_expiry", "daily_growth_cap")
    inlines = [LevelInline, EarningRuleInline]
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "is_active", "time_zone")}),
        (_("Levels and settlement"), {"fields": ("growth_window_months", "settlement_day", "settlement_hour")}),
        (_("Points expiry"), {"fields": ("points_expiry", "points_expiry_years", "points_expiry_months")}),
        (_("Caps per member"), {"fields": ("daily_growth_cap", "monthly_growth_cap", "daily_points_cap", "monthly_points_cap")}),
    )


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("member_id", "name", "phone", "level", "level_valid_until", "status", "joined_at")
    list_filter = ("status", "level")
    search_fields = ("=member_id", "=phone", "name")
    list_select_related = ("level",)
    show_full_result_count = False
    readonly_fields = ("level", "level_valid_until", "level_progress", "points_summary", "created_at", "updated_at")
    ordering = ("-pk",)

    @admin.display(description=_("level progress"))
    def level_progress(self, obj):
        if obj.pk is None:
            return "-"
        p = member_level_progress_get(member=obj)
        start, end = p["window"]
        window = _("lifetime") if start is None else f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"
        parts = [
            _("%(growth)s growth in the window %(window)s") % {"growth": f"{p['window_growth']:,}", "window": window},
            _("%(n)s more to keep %(level)s") % {"n": f"{p['to_keep']:,}", "level": p["level"].code} if p["to_keep"] else _("enough to keep %(level)s") % {"level": p["level"].code},
        ]
        if p["next_level"] and p["to_next"]:
            parts.append(_("%(n)s more to reach %(level)s") % {"n": f"{p['to_next']:,}", "level": p["next_level"].code})
        elif p["next_level"]:
            parts.append(_("reaches %(level)s or higher at the next settlement") % {"level": p["next_level"].code})
        return "; ".join(str(part) for part in parts)

    @admin.display(description=_("points"))
    def points_summary(self, obj):
        if obj.pk is None:
            return "-"
        from points.selectors import points_available_get, points_next_expiry_get

        available = points_available_get(member=obj)
        when, amount = points_next_expiry_get(member=obj)
        text = _("%(n)s available") % {"n": f"{available:,}"}
        if when and amount:
            text += "; " + _("%(n)s expire on %(date)s") % {"n": f"{amount:,}", "date": f"{when:%Y-%m-%d %H:%M}"}
        return text


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("order_id", "member", "paid_at", "status", "goods_amount", "discount_amount", "refunded_amount", "revision")
    list_filter = ("status",)
    search_fields = ("=order_id", "=member__member_id")
    list_select_related = ("member",)
    show_full_result_count = False
    date_hierarchy = "paid_at"
    raw_id_fields = ("member",)

    def has_add_permission(self, request):
        return False  # orders enter through import_orders and the booking service

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GrowthEntry)
class GrowthEntryAdmin(LedgerAdmin):
    list_display = ("booked_at", "member", "kind", "amount", "capped", "effective_at", "source", "source_ref", "rule", "created_by", "reason")
    list_filter = ("kind", "source")
    search_fields = ("=member__member_id", "=source_ref")
    list_select_related = ("member", "rule", "created_by")
    date_hierarchy = "effective_at"


@admin.register(SettlementRun)
class SettlementRunAdmin(LedgerAdmin):
    list_display = (
        "month", "status", "started_at", "finished_at", "trigger", "members_evaluated", "members_up",
        "members_down", "members_kept", "members_renewed", "points_expired",
    )


@admin.register(LevelChange)
class LevelChangeAdmin(LedgerAdmin):
    list_display = ("member", "run", "from_level", "to_level", "valid_until", "window_growth", "reason")
    list_filter = ("reason", "to_level")
    search_fields = ("=member__member_id",)
    list_select_related = ("member", "run", "from_level", "to_level")


@admin.register(MemberEvent)
class MemberEventAdmin(LedgerAdmin):
    list_display = ("event_id", "member", "event_type", "occurred_at")
    list_filter = ("event_type",)
    search_fields = ("=member__member_id", "=event_id")


@admin.register(OrderCredit)
class OrderCreditAdmin(LedgerAdmin):
    list_display = ("order", "rule", "entitlement", "credited")
    search_fields = ("=order__order_id",)
    list_select_related = ("order", "rule")
