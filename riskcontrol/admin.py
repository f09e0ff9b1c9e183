from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from common.exports import StreamedExportMixin
from common.params_form import params_fieldsets, typed_params_form
from common.tables import html_table
from common.timeutil import shown
from common.admin import (
    ProtectedDeleteInlineMixin, ProtectedDeleteMixin, ServiceCreateAdmin, file_import_view, refusal_sentence, rows_apply, rows_apply_with_reason,
)
from membership.admin import import_job_redirect
from membership.models import Member

from .anomalies import ANOMALY_STRATEGIES
from .selectors import adjustments_waiting, alert_case_get
from .models import Alert, AlertEvent, AnomalyRule, BlockedCredit, ListEntry, ManualAdjustment
from .services import (
    adjustment_approve,
    adjustment_reject,
    ALERT_TRANSITIONS,
    CLOSING,
    adjustment_request,
    adjustments_import,
    alert_transition,
    benefits_suspend,
    blocked_credit_release,
    list_entries_import,
    list_entry_add,
    list_entry_end,
)


class AdjustmentBatchForm(forms.Form):
    file = forms.FileField(label=_("file"), help_text=_("CSV: member_id, amount, reason; optional currency (points), reason_code (other), reference."))
    batch = forms.CharField(label=_("batch name"), max_length=150, help_text=_("Importing the same batch again requests nothing twice."))


class ApprovalFilter(admin.SimpleListFilter):
    """The approvals inbox (what waits for the signed-in user's decision) and the requester's own
    requests."""

    title = _("approval")
    parameter_name = "approval"

    def lookups(self, request, model_admin):
        return [("waiting", _("Waiting for my approval")), ("mine", _("Requested by me"))]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset & adjustments_waiting(user=request.user)
        if self.value() == "mine":
            return queryset.filter(requested_by=request.user)
        return queryset


@admin.register(ManualAdjustment)
class ManualAdjustmentAdmin(StreamedExportMixin, ServiceCreateAdmin):
    export_columns = (
        "requested_at", "member__member_id", "currency", "amount", "reason_code", "reason", "reference", "status", "requested_by__username",
        "decided_by__username", "decided_at", "decision_note",
    )
    list_display = ("requested_at", "member", "currency", "amount", "reason_code", "reason", "status", "requested_by", "decided_by")
    list_filter = (ApprovalFilter, "status", "currency", "reason_code")
    change_form_template = "admin/riskcontrol/manualadjustment/change_form.html"
    search_fields = ("=member__member_id", "=reference")
    list_select_related = ("member", "requested_by", "decided_by")
    autocomplete_fields = ("member",)
    show_full_result_count = False
    actions = ["approve_adjustments", "reject_adjustments"]
    change_list_template = "admin/riskcontrol/manualadjustment/change_list.html"

    def get_urls(self):
        view, decide = self.admin_site.admin_view(self.batch_view), self.admin_site.admin_view(self.decide_view)
        return [
            path("batch/", view, name="riskcontrol_manualadjustment_batch"),
            path("<int:pk>/decide/", decide, name="riskcontrol_manualadjustment_decide"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A pending adjustment's page: approve or reject it with a note, for an approver who did
        not ask for it; the requester reads that it waits for someone else."""
        adjustment = self.get_object(request, object_id)
        context = {}
        if adjustment is not None and adjustment.status == ManualAdjustment.Status.PENDING:
            own = adjustment.requested_by_id == request.user.pk
            context = {"decision_own": own, "decision_open": not own and self.has_approve_permission(request)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **context})

    def decide_view(self, request, pk):
        """Approve (and book) or reject one adjustment from its page, then open the next one that
        waits for the approver, or the inbox when none is left."""
        adjustment = get_object_or_404(ManualAdjustment, pk=pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:riskcontrol_manualadjustment_change", args=[pk]))
        if not self.has_approve_permission(request):
            raise PermissionDenied
        note = request.POST.get("note", "").strip()
        try:
            if "approve" in request.POST:
                adjustment_approve(adjustment=adjustment, actor=request.user, note=note)
                self.message_user(request, _("Adjustment #%(pk)s (%(what)s) approved and booked.") % {"pk": pk, "what": adjustment}, messages.SUCCESS)
            elif "reject" in request.POST:
                adjustment_reject(adjustment=adjustment, actor=request.user, note=note)
                self.message_user(request, _("Adjustment #%(pk)s (%(what)s) rejected.") % {"pk": pk, "what": adjustment}, messages.SUCCESS)
            else:
                return HttpResponseRedirect(reverse("admin:riskcontrol_manualadjustment_change", args=[pk]))
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, refusal_sentence(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:riskcontrol_manualadjustment_change", args=[pk]))
        following = adjustments_waiting(user=request.user).order_by("requested_at", "pk").first()
        if following is not None:
            return HttpResponseRedirect(reverse("admin:riskcontrol_manualadjustment_change", args=[following.pk]))
        self.message_user(request, _("Nothing else waits for your approval."), messages.INFO)
        return HttpResponseRedirect(reverse("admin:riskcontrol_manualadjustment_changelist") + "?approval=waiting")

    def batch_view(self, request):
        """Adjustments from a CSV file, through the same threshold and approval as one at a time."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return file_import_view(
            self, request, form=AdjustmentBatchForm(request.POST or None, request.FILES or None),
            run=lambda *, path, name, encoding, data: adjustments_import(
                path=path, name=name, batch=data["batch"], actor=request.user, encoding=encoding
            ),
            title=_("Adjustments from a file"), template="admin/riskcontrol/manualadjustment/batch.html",
            done_url=reverse("admin:riskcontrol_manualadjustment_changelist"),
            large=lambda *, upload, data: import_job_redirect(self, request, kind="adjustments", upload=upload, options={"batch": data["batch"]}),
        )
    add_fields = ("member", "currency", "amount", "reason_code", "reason", "reference")

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        return [f.name for f in self.model._meta.fields if f.name != "id"]

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm("riskcontrol.view_manualadjustment")

    def create(self, request, data):
        created = adjustment_request(actor=request.user, **data)
        if created.status == ManualAdjustment.Status.PENDING:
            self.message_user(request, _("The adjustment is above the approval threshold and waits for another staff member's approval."), messages.WARNING)
        return created

    @admin.action(description=_("Approve and book the selected adjustments"), permissions=["approve"])
    def approve_adjustments(self, request, queryset):
        rows_apply(
            self, request, queryset, lambda adjustment: adjustment_approve(adjustment=adjustment, actor=request.user),
            _("%(n)d adjustment(s) approved and booked."),
        )

    @admin.action(description=_("Reject the selected adjustments"), permissions=["approve"])
    def reject_adjustments(self, request, queryset):
        return rows_apply_with_reason(
            self, request, queryset, lambda adjustment, note: adjustment_reject(adjustment=adjustment, actor=request.user, note=note),
            _("%(n)d adjustment(s) rejected."),
            template="admin/riskcontrol/manualadjustment/reject.html", title=_("Reject adjustments"),
            context={"adjustments": list(queryset)}, field="note",
        )

    def has_approve_permission(self, request):
        return request.user.has_perm("riskcontrol.approve_manualadjustment")


@admin.register(BlockedCredit)
class BlockedCreditAdmin(StreamedExportMixin, ProtectedDeleteMixin, admin.ModelAdmin):
    """What the blacklist withheld; read-only, released (credited once) by an action after review."""

    export_columns = (
        "effective_at", "member__member_id", "currency", "amount", "source", "source_ref", "rule__code", "released_at", "released_by__username",
    )

    list_display = ("effective_at", "member", "currency", "amount", "source", "source_ref", "rule", "list_entry", "released_at", "released_by")
    list_filter = ("currency", "source", ("released_at", admin.EmptyFieldListFilter))
    search_fields = ("=member__member_id", "=source_ref")
    list_select_related = ("member", "rule", "list_entry", "released_by")
    raw_id_fields = ("member", "list_entry", "growth_entry", "points_entry")
    show_full_result_count = False
    actions = ["release_blocked_credits"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_release_permission(self, request):
        return request.user.has_perm("riskcontrol.release_blockedcredit")

    @admin.action(description=_("Release (credit) the selected blocked credits"), permissions=["release"])
    def release_blocked_credits(self, request, queryset):
        return rows_apply_with_reason(
            self, request, queryset,
            lambda blocked, reason: blocked.released_at is None and blocked_credit_release(blocked=blocked, actor=request.user, reason=reason),
            _("%(n)d blocked credit(s) released."),
            template="admin/riskcontrol/blockedcredit/release.html", title=_("Release blocked credits"),
            context={"blocked": list(queryset)},
        )


@admin.register(AnomalyRule)
class AnomalyRuleAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    """The anomaly rules: a type, its parameters (checked on save), severity and automatic suspension."""

    list_display = ("code", "name", "kind", "severity", "is_active", "auto_suspend", "updated_at")
    list_filter = ("kind", "severity", "is_active")
    search_fields = ("code", "name")
    show_full_result_count = False
    form = typed_params_form(AnomalyRule, ANOMALY_STRATEGIES, fields=("code", "name", "kind", "severity", "is_active", "auto_suspend"))
    change_form_template = "admin/typed_params_change_form.html"

    def get_fieldsets(self, request, obj=None):
        """The rule, then the parameters of its type (each type's group; the page shows the chosen
        one), then what an alert does."""
        return [
            (None, {"fields": ("code", "name", "kind")}),
            *params_fieldsets(ANOMALY_STRATEGIES, dict(AnomalyRule.Kind.choices)),
            (_("Severity"), {"fields": ("severity", "is_active", "auto_suspend")}),
        ]

    def has_delete_permission(self, request, obj=None):
        return False  # alerts point at their rule: switch a rule off instead


class AlertEventInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = AlertEvent
    fields = ("created_at", "actor", "from_status", "to_status", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def alert_case_render(*, alert, case) -> str:
    """The evidence of an alert's page: what its rule found, then the member's latest entries."""
    member_page = reverse("admin:membership_member_change", args=[alert.member_id])
    parts = [format_html('<p>{}: <a href="{}">{}</a></p>', _("Member"), member_page, alert.member)]
    if case["open_for"] is not None:
        parts.append(format_html('<p id="alert-age">{}</p>', _("Open for %(age)s.") % {"age": timesince(alert.first_seen_at)}))
    if alert.rule.kind == "shared_phone":
        parts.append(format_html("<h3>{}</h3>", _("Other members with phone %(phone)s") % {"phone": (alert.details or {}).get("phone", "")}))
        parts.append(html_table(
            (_("Member"), _("Name"), _("Level"), _("Status"), _("Joined")),
            [
                (format_html('<a href="{}">{}</a>', reverse("admin:membership_member_change", args=[m.pk]), m.member_id), m.name,
                 m.level.code if m.level_id else "-", m.get_status_display(), shown(m.joined_at, with_time=False))
                for m in case["others"]
            ],
            _("No other member has this phone now."),
        ))
    elif alert.rule.kind == "refund_rate":
        parts.append(format_html("<h3>{}</h3>", _("The orders behind the refund rate")))
        parts.append(html_table(
            (_("Order"), _("Paid"), _("Status"), _("Goods"), _("Refunded")),
            [
                (format_html('<a href="{}">{}</a>', reverse("admin:membership_order_change", args=[o.pk]), o.order_id), shown(o.paid_at),
                 o.get_status_display(), f"{o.goods_amount:,.2f}", f"{o.refunded_amount:,.2f}")
                for o in case["orders"]
            ],
            _("No orders in the period."),
        ))
    elif alert.rule.kind in ("earning_velocity", "redemption_burst"):
        parts.append(format_html("<h3>{}</h3>", _("The entries of that hour")))
        parts.append(_entries(case["entries"]))
    elif case["level_change"] is not None:
        change = case["level_change"]
        parts.append(format_html("<h3>{}</h3>", _("The level change")))
        parts.append(format_html("<p>{}</p>", change))
    parts.append(format_html("<h3>{}</h3>", _("The member's latest entries")))
    parts.append(_entries(case["recent"]))
    return format_html_join("", "{}", ((part,) for part in parts))


def _entries(entries):
    return html_table(
        (_("Effective"), _("Ledger"), _("Kind"), _("Amount"), _("Source"), _("Reference")),
        [
            (shown(e.effective_at), e._meta.verbose_name, e.get_kind_display(), f"{e.amount:+,}", e.get_source_display(), e.source_ref or e.reason)
            for e in entries
        ],
        _("No entries."),
    )


TRANSITION_LABELS = {
    Alert.Status.INVESTIGATING: _("Start investigating"),
    Alert.Status.RESOLVED: _("Resolve"),
    Alert.Status.FALSE_POSITIVE: _("False positive"),
    Alert.Status.OPEN: _("Reopen"),
}


@admin.register(Alert)
class AlertAdmin(StreamedExportMixin, ProtectedDeleteMixin, admin.ModelAdmin):
    """Alerts raised by the anomaly scan, worked through their workflow by actions (each recorded)."""

    export_columns = ("first_seen_at", "last_seen_at", "rule__code", "member__member_id", "severity", "status", "incident_key")

    list_display = ("first_seen_at", "rule", "member", "severity", "status", "age", "incident_key", "list_entry")
    list_filter = ("status", "severity", "rule")
    change_form_template = "admin/riskcontrol/alert/change_form.html"

    @admin.display(description=_("open for"))
    def age(self, alert):
        """How long an open or investigated alert has waited; a closed one shows nothing."""
        if alert.status in (Alert.Status.OPEN, Alert.Status.INVESTIGATING):
            return timesince(alert.first_seen_at)
        return "-"

    def get_urls(self):
        transition = self.admin_site.admin_view(self.transition_view)
        return [path("<int:pk>/transition/", transition, name="riskcontrol_alert_transition"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The alert as a case: the evidence its rule found, the member's latest entries, and the
        moves the workflow allows from here, each with a note."""
        alert = self.get_object(request, object_id)
        context = {}
        if alert is not None:
            case = alert_case_get(alert=alert)
            context = {
                "case_html": alert_case_render(alert=alert, case=case),
                "moves": [(to, label) for to, label in TRANSITION_LABELS.items() if to in ALERT_TRANSITIONS[alert.status]]
                if self.has_workflow_permission(request) else [],
                "closing": bool(ALERT_TRANSITIONS[alert.status] & CLOSING),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **context})

    def transition_view(self, request, pk):
        alert = get_object_or_404(Alert, pk=pk)
        back = HttpResponseRedirect(reverse("admin:riskcontrol_alert_change", args=[pk]))
        if request.method != "POST":
            return back
        if not self.has_workflow_permission(request):
            raise PermissionDenied
        to = request.POST.get("to", "")
        try:
            alert = alert_transition(alert=alert, to=to, actor=request.user, note=request.POST.get("note", ""))
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, refusal_sentence(exc), messages.ERROR)
        else:
            self.message_user(request, _("Alert #%(pk)s is now %(status)s.") % {"pk": pk, "status": alert.get_status_display()}, messages.SUCCESS)
        return back
    search_fields = ("=member__member_id", "=incident_key")
    list_select_related = ("rule", "member", "list_entry")
    raw_id_fields = ("member", "list_entry")
    show_full_result_count = False
    inlines = [AlertEventInline]
    actions = ["alerts_investigate", "alerts_resolve", "alerts_false_positive", "alerts_reopen"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_workflow_permission(self, request):
        return request.user.has_perm("riskcontrol.change_alert")

    def _transition(self, request, queryset, *, to, action, question, needs_note):
        return rows_apply_with_reason(
            self, request, queryset, lambda alert, note: alert_transition(alert=alert, to=to, actor=request.user, note=note),
            _("%(n)d alert(s) now %(status)s."),
            template="admin/riskcontrol/alert/transition.html", title=question,
            context={"alerts": list(queryset), "action": action, "question": question}, field="note", required=needs_note,
            status=Alert.Status(to).label,
        )

    @admin.action(description=_("Start investigating the selected alerts"), permissions=["workflow"])
    def alerts_investigate(self, request, queryset):
        return self._transition(request, queryset, to=Alert.Status.INVESTIGATING, action="alerts_investigate", question="", needs_note=False)

    @admin.action(description=_("Resolve the selected alerts"), permissions=["workflow"])
    def alerts_resolve(self, request, queryset):
        return self._transition(
            request, queryset, to=Alert.Status.RESOLVED, action="alerts_resolve", question=_("Resolve these alerts?"), needs_note=True
        )

    @admin.action(description=_("Mark the selected alerts as false positives"), permissions=["workflow"])
    def alerts_false_positive(self, request, queryset):
        return self._transition(
            request, queryset, to=Alert.Status.FALSE_POSITIVE, action="alerts_false_positive",
            question=_("Mark these alerts as false positives?"), needs_note=True,
        )

    @admin.action(description=_("Reopen the selected alerts"), permissions=["workflow"])
    def alerts_reopen(self, request, queryset):
        return self._transition(request, queryset, to=Alert.Status.OPEN, action="alerts_reopen", question="", needs_note=False)


class ListUploadForm(forms.Form):
    file = forms.FileField(label=_("file"), help_text=_("CSV: member_id, kind, scope, reason; optional until, review_on."))
    remove = forms.BooleanField(label=_("take these members off the list"), required=False, help_text=_("Unticked: add them."))


class DueForReviewFilter(admin.SimpleListFilter):
    title = _("review")
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("due", _("Due for review")), ("scheduled", _("Review scheduled"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        in_force = queryset.filter(starts_at__lte=now).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        if self.value() == "due":
            return in_force.filter(review_on__lte=timezone.localdate())
        if self.value() == "scheduled":
            return in_force.filter(review_on__isnull=False)
        return queryset


class InForceFilter(admin.SimpleListFilter):
    title = _("in force")
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return [("yes", _("In force now")), ("no", _("Ended or not started"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        in_force = Q(starts_at__lte=now) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        if self.value() == "yes":
            return queryset.filter(in_force)
        if self.value() == "no":
            return queryset.exclude(in_force)
        return queryset


@admin.register(ListEntry)
class ListEntryAdmin(StreamedExportMixin, ServiceCreateAdmin):
    """Black and white lists: added one by one or from a file, taken off by an action (entries end, never vanish)."""

    export_columns = (
        "member__member_id", "kind", "scope", "reason", "starts_at", "ends_at", "review_on", "added_by__username", "added_at",
        "ended_by__username", "end_reason",
    )

    list_display = ("member", "kind", "scope", "reason", "starts_at", "ends_at", "review_on", "added_by", "ended_by")
    list_filter = ("kind", "scope", InForceFilter, DueForReviewFilter)
    search_fields = ("=member__member_id",)
    list_select_related = ("member", "added_by", "ended_by")
    autocomplete_fields = ("member",)
    show_full_result_count = False
    actions = ["end_entries"]
    change_list_template = "admin/riskcontrol/listentry/change_list.html"
    add_fields = ("member", "kind", "scope", "reason", "starts_at", "ends_at", "review_on")

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        return ("member", "kind", "scope", "reason", "starts_at", "ends_at", "review_on", "added_by", "added_at", "ended_by", "end_reason")

    def get_changeform_initial_data(self, request):
        return {"starts_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm("riskcontrol.view_listentry")

    def create(self, request, data):
        return list_entry_add(actor=request.user, **data)

    @admin.action(description=_("Take the selected members off the list"), permissions=["change"])
    def end_entries(self, request, queryset):
        return rows_apply_with_reason(
            self, request, queryset, lambda entry, reason: list_entry_end(entry=entry, actor=request.user, reason=reason),
            _("%(n)d entry(ies) ended."),
            template="admin/riskcontrol/listentry/end.html", title=_("Take off the list"),
            context={"entries": list(queryset)},
        )

    def get_urls(self):
        view, suspend = self.admin_site.admin_view(self.upload_view), self.admin_site.admin_view(self.suspend_view)
        return [
            path("upload/", view, name="riskcontrol_listentry_upload"),
            path("suspend/<int:member_pk>/", suspend, name="riskcontrol_listentry_suspend"),
            *super().get_urls(),
        ]

    def suspend_view(self, request, member_pk):
        """Suspend one member's benefits from the member page (``benefits_suspend``), then back to it."""
        member = get_object_or_404(Member, pk=member_pk)
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SuspendBenefitsForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                benefits_suspend(member=member, reason=form.cleaned_data["reason"], review_on=form.cleaned_data["review_on"], actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, refusal_sentence(exc), messages.ERROR)
            else:
                self.message_user(request, _("Benefits of %(n)d member(s) suspended.") % {"n": 1}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:membership_member_change", args=[member.pk]))
        return TemplateResponse(
            request, "admin/riskcontrol/member/suspend_benefits.html",
            {**self.admin_site.each_context(request), "members": [member], "form": form, "title": _("Suspend benefits")},
        )

    def upload_view(self, request):
        """Add members to, or take them off, the lists from a CSV file, through the same services."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return file_import_view(
            self, request, form=ListUploadForm(request.POST or None, request.FILES or None),
            run=lambda *, path, name, encoding, data: list_entries_import(
                path=path, name=name, actor=request.user, remove=data["remove"], encoding=encoding
            ),
            title=_("Black and white lists from a file"), template="admin/riskcontrol/listentry/upload.html",
            done_url=reverse("admin:riskcontrol_listentry_changelist"), refused=(PermissionDenied,),
            large=lambda *, upload, data: import_job_redirect(self, request, kind="lists", upload=upload, options={"remove": data["remove"]}),
        )


class SuspendBenefitsForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=255, help_text=_("E.g. reselling benefits."))
    review_on = forms.DateField(label=_("review on"), required=False, help_text=_("When to look at the suspension again."))


@admin.action(description=_("Suspend benefits of the selected members"))
def suspend_benefits(modeladmin, request, queryset):
    """A member-list action that risk control adds to the members' admin (see ``apps.py``)."""
    form = SuspendBenefitsForm(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        return TemplateResponse(
            request,
            "admin/riskcontrol/member/suspend_benefits.html",
            {**modeladmin.admin_site.each_context(request), "members": list(queryset[:200]), "form": form, "title": _("Suspend benefits")},
        )
    done = 0
    for member in queryset:
        try:
            benefits_suspend(member=member, reason=form.cleaned_data["reason"], review_on=form.cleaned_data["review_on"], actor=request.user)
            done += 1
        except (ValidationError, PermissionDenied) as exc:
            modeladmin.message_user(request, f"{member.member_id}: {refusal_sentence(exc)}", messages.ERROR)
            if isinstance(exc, PermissionDenied):
                break
    if done:
        modeladmin.message_user(request, _("Benefits of %(n)d member(s) suspended.") % {"n": done}, messages.SUCCESS)
