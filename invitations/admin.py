from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from common.admin import LedgerAdmin, ProtectedDeleteMixin

from .models import Invitation, InvitationPolicy, InviteCode


@admin.register(InvitationPolicy)
class InvitationPolicyAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    list_display = ("program", "inviter_points", "invitee_points", "inviter_benefit", "invitee_benefit", "invitee_trial_plan", "monthly_limit", "is_active")
    list_select_related = ("program", "inviter_benefit", "invitee_benefit", "invitee_trial_plan")
    raw_id_fields = ("inviter_benefit", "invitee_benefit", "invitee_trial_plan")
    show_full_result_count = False


@admin.register(InviteCode)
class InviteCodeAdmin(LedgerAdmin):
    list_display = ("code", "member", "link", "created_at")
    list_select_related = ("member",)
    raw_id_fields = ("member",)
    search_fields = ("code", "member__member_id")
    search_help_text = _("A code or a member id, exactly.")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(code=term.upper()) | queryset.filter(member__member_id=term), False


@admin.register(Invitation)
class InvitationAdmin(LedgerAdmin):
    list_display = ("accepted_at", "inviter", "invitee", "code", "rewarded", "note")
    list_filter = ("rewarded",)
    list_select_related = ("inviter", "invitee", "code")
    raw_id_fields = ("inviter", "invitee", "code", "inviter_points_entry", "invitee_points_entry", "inviter_grant", "invitee_grant", "invitee_subscription")
    search_fields = ("inviter__member_id", "invitee__member_id")
    search_help_text = _("A member id (inviter or new member), exactly.")
    ordering = ("-accepted_at", "-pk")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(inviter__member_id=term) | queryset.filter(invitee__member_id=term), False
