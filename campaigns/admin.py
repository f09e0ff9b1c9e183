from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from common.admin import refusal_sentence
from common.params_form import params_fieldsets, typed_params_form
from membership.rules import STRATEGIES

from .models import KINDS, Campaign
from .selectors import PHASES, campaign_phase, campaign_report, campaigns_waiting
from .services import (
    EDITABLE,
    FORECAST_MONTHS,
    campaign_approve,
    campaign_end,
    campaign_forecast_ask,
    campaign_reject,
    campaign_revise,
    campaign_save,
    campaign_submit,
)

PHASE_LABELS = {
    "draft": _("Draft"),
    "submitted": _("Submitted for approval"),
    "rejected": _("Rejected"),
    "scheduled": _("Scheduled"),
    "live": _("Live"),
    "ended": _("Ended"),
}
CAMPAIGN_STRATEGIES = {kind.value: STRATEGIES[kind.value] for kind in KINDS}
FIELDS = ("program", "code", "name", "description", "kind", "currency", "priority", "exclusive", "starts_at", "ends_at", "budget", "member_limit")


class PhaseFilter(admin.SimpleListFilter):
    title = _("phase")
    parameter_name = "phase"

    def lookups(self, request, model_admin):
        return [(phase, PHASE_LABELS[phase]) for phase in PHASES]

    def queryset(self, request, queryset):
        from django.utils import timezone

        now = timezone.now()
        phase = self.value()
        if phase in ("draft", "submitted", "rejected"):
            return queryset.filter(status=phase)
        approved = queryset.filter(status=Campaign.Status.APPROVED)
        if phase == "scheduled":
            return approved.filter(starts_at__gt=now)
        if phase == "live":
            return approved.filter(starts_at__lte=now, ends_at__gt=now)
        if phase == "ended":
            return queryset.filter(status=Campaign.Status.ENDED) | approved.filter(ends_at__lte=now)
        return queryset


def _with_cash(campaign: Campaign, amount: int) -> str:
    """``amount`` with, for points, its cash value: 50,000 (500.00 yuan)."""
    value = campaign.cash_value(amount)
    return f"{amount:,}" if value is None else _("%(amount)s (%(yuan)s yuan)") % {"amount": f"{amount:,}", "yuan": f"{value:,}"}


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = typed_params_form(Campaign, CAMPAIGN_STRATEGIES, fields=FIELDS)
    list_display = ("code", "name", "phase_shown", "starts_at", "ends_at", "budget_shown", "credited_shown", "refused", "members_reached")
    list_filter = (PhaseFilter, "program")
    search_fields = ("code", "name")
    readonly_fields = ("status", "version", "previous", "budget_cash", "credited_shown", "refused", "created_by")
    change_form_template = "admin/campaigns/campaign/change_form.html"

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ("program", "code", "name", "description", "kind", "currency")}),
            (_("When and how it stacks"), {"fields": ("starts_at", "ends_at", "priority", "exclusive")}),
            (_("Budget"), {"fields": ("budget", "budget_cash", "member_limit", "credited_shown", "refused")}),
            *params_fieldsets(CAMPAIGN_STRATEGIES, dict(Campaign._meta.get_field("kind").flatchoices)),
            (_("Lifecycle"), {"fields": ("status", "version", "previous", "created_by")}),
        ]

    @admin.display(description=_("budget"), ordering="budget")
    def budget_shown(self, obj):
        return _with_cash(obj, obj.budget) if obj.budget is not None else "—"

    @admin.display(description=_("the budget's cash value"))
    def budget_cash(self, obj):
        value = obj.cash_value(obj.budget) if obj.pk else None
        return _("%(yuan)s yuan") % {"yuan": f"{value:,}"} if value is not None else "—"

    @admin.display(description=_("credited"), ordering="credited")
    def credited_shown(self, obj):
        return _with_cash(obj, obj.credited)

    @admin.display(description=_("phase"))
    def phase_shown(self, obj):
        return PHASE_LABELS[campaign_phase(obj)]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("program").annotate(reached=Count("members", filter=Q(members__credited__gt=0)))

    @admin.display(description=_("members reached"), ordering="reached")
    def members_reached(self, obj):
        return obj.reached

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status not in EDITABLE:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        campaign_save(campaign=obj, actor=request.user)

    def get_urls(self):
        return [
            path("<int:pk>/transition/", self.admin_site.admin_view(self.transition_view), name="campaigns_campaign_transition"),
            path("<int:pk>/forecast/", self.admin_site.admin_view(self.forecast_view), name="campaigns_campaign_forecast"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            user = request.user
            waiting = campaigns_waiting(user=user).filter(pk=obj.pk).exists() and user.has_perm("campaigns.approve_campaign")
            context.update(
                phase=PHASE_LABELS[campaign_phase(obj)],
                transitions=obj.transitions.select_related("actor"),
                may_submit=obj.status in EDITABLE and user.has_perm("campaigns.change_campaign"),
                may_decide=waiting,
                may_end=obj.status == Campaign.Status.APPROVED and user.has_perm("campaigns.change_campaign"),
                may_revise=obj.status == Campaign.Status.APPROVED and user.has_perm("campaigns.add_campaign") and not Campaign.objects.filter(previous=obj).exists(),
            )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def transition_view(self, request, pk):
        """Submit, approve, reject or end one campaign from its page."""
        campaign = get_object_or_404(Campaign, pk=pk)
        page = HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[pk]))
        if request.method != "POST":
            return page
        note = request.POST.get("note", "")
        steps = {
            "submit": (campaign_submit, _("Campaign %(code)s submitted: it waits for another staff member's approval.")),
            "approve": (campaign_approve, _("Campaign %(code)s approved: it gives over its window.")),
            "reject": (campaign_reject, _("Campaign %(code)s rejected: its maker reads your note.")),
            "end": (campaign_end, _("Campaign %(code)s ended: orders and events from now on earn nothing from it.")),
        }
        if "revise" in request.POST:
            try:
                draft = campaign_revise(campaign=campaign, actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, refusal_sentence(exc), messages.ERROR)
                return page
            self.message_user(request, _("Version %(version)s of campaign %(code)s is a draft: change it, then submit it; its approval ends the version before.") % {"version": draft.version, "code": campaign.code}, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[draft.pk]))
        chosen = next((step for step in steps if step in request.POST), None)
        if chosen is None:
            return page
        service, done = steps[chosen]
        try:
            service(campaign=campaign, actor=request.user, note=note)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, refusal_sentence(exc), messages.ERROR)
            return page
        self.message_user(request, done % {"code": campaign.code}, messages.SUCCESS)
        return page

    def forecast_view(self, request, pk):
        """The campaign's forecast (asked for here, made by a worker) beside what it actually did."""
        campaign = get_object_or_404(Campaign.objects.select_related("program", "rule"), pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        page = reverse("admin:campaigns_campaign_forecast", args=[pk])
        if request.method == "POST":
            try:
                campaign_forecast_ask(campaign=campaign, months=int(request.POST.get("months") or 12), actor=request.user)
            except (ValueError, ValidationError, PermissionDenied) as exc:
                self.message_user(request, refusal_sentence(exc) if not isinstance(exc, ValueError) else str(exc), messages.ERROR)
            else:
                self.message_user(request, _("The forecast is being made by a worker: this page shows it when it is done."), messages.INFO)
            return HttpResponseRedirect(page)
        forecast = campaign.forecast
        waiting = campaign.forecast_asked_at is not None and (forecast is None or forecast["made_at"] < campaign.forecast_asked_at.isoformat())
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "original": campaign, "title": _("Forecast and report: %(campaign)s") % {"campaign": campaign},
            "forecast": forecast, "waiting": waiting, "months": FORECAST_MONTHS, "report": campaign_report(campaign=campaign),
            "by_day": (forecast or {}).get("days", [])[-60:],
        }
        return TemplateResponse(request, "admin/campaigns/campaign/forecast.html", context)
