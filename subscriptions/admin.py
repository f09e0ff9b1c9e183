from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from common.admin import LedgerAdmin, ProtectedDeleteInlineMixin, ProtectedDeleteMixin

from .models import Cashback, Plan, Subscription, SubscriptionTerm
from .services import subscription_cancel


@admin.register(Plan)
class PlanAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    list_display = ("code", "name", "program", "term_months", "price", "points_price", "cashback_rate", "yearly_cashback_cap", "term_cashback_cap", "trial_days", "is_active")
    list_filter = ("program", "is_active")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("program",)
    show_full_result_count = False


class SubscriptionTermInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = SubscriptionTerm
    fields = ("kind", "reference", "starts_on", "ends_on", "amount", "points_entry", "created_at", "created_by")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    """Subscriptions are started, renewed and extended by the services (payments); staff may cancel one."""

    list_display = ("member", "plan", "status", "is_trial", "starts_on", "ends_on", "renewals", "trial_settled")
    list_filter = ("status", "is_trial", "plan")
    list_select_related = ("member", "plan")
    raw_id_fields = ("member",)
    search_fields = ("member__member_id",)
    search_help_text = _("A member id, exactly.")
    show_full_result_count = False
    readonly_fields = ("member", "plan", "starts_on", "ends_on", "status", "is_trial", "renewals", "created_at", "cancelled_at", "cancel_reason", "trial_settled")
    inlines = [SubscriptionTermInline]
    actions = ["cancel"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(member__member_id=term), False) if term else (queryset, False)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Cancel the selected subscriptions today"), permissions=["change"])
    def cancel(self, request, queryset):
        done = 0
        for subscription in queryset:
            try:
                subscription_cancel(subscription=subscription, reason=f"cancelled in the console by {request.user.get_username()}", actor=request.user)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{subscription}: {' '.join(exc.messages)}", messages.ERROR)
        self.message_user(request, _("%(n)s subscriptions cancelled.") % {"n": done})


@admin.register(Cashback)
class CashbackAdmin(LedgerAdmin):
    list_display = ("created_at", "order", "subscription", "points", "capped", "status", "list_entry")
    list_filter = ("status",)
    list_select_related = ("order", "subscription__member", "subscription__plan", "list_entry__member")
    raw_id_fields = ("order", "subscription", "points_entry", "list_entry")
    search_fields = ("order__order_id",)
    search_help_text = _("An order id, exactly.")
    ordering = ("-created_at", "-pk")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(order__order_id=term), False) if term else (queryset, False)
