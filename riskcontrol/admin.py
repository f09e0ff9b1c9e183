import tempfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from common.csvio import FileError, detect_encoding

from .models import Alert, AlertEvent, AnomalyRule, BlockedCredit, ManualAdjustment
from .services import (
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
    adjustments_import,
    alert_transition,
    blocked_credit_release,
)


class AdjustmentBatchForm(forms.Form):
    file = forms.FileField(label=_("file"), help_text=_("CSV: member_id, amount, reason; optional currency (points), reason_code (other), reference."))
    batch = forms.CharField(label=_("batch name"), max_length=150, help_text=_("Importing the same batch again requests nothing twice."))


@admin.register(ManualAdjustment)
class ManualAdjustmentAdmin(admin.ModelAdmin):
    list_display = ("requested_at", "member", "currency", "amount", "reason_code", "reason", "status", "requested_by", "decided_by")
    list_filter = ("status", "currency", "reason_code")
    search_fields = ("=member__member_id", "=reference")
    list_select_related = ("member", "requested_by", "decided_by")
    autocomplete_fields = ("member",)
    show_full_result_count = False
    actions = ["approve_adjustments", "reject_adjustments"]
    change_list_template = "admin/riskcontrol/manualadjustment/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.batch_view)
        return [path("batch/", view, name="riskcontrol_manualadjustment_batch"), *super().get_urls()]

    def batch_view(self, request):
        """Adjustments from a CSV file, through the same threshold and approval as one at a time."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AdjustmentBatchForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
                handle.flush()
                try:
                    report = adjustments_import(
                        path=handle.name, name=upload.name, batch=form.cleaned_data["batch"], actor=request.user,
                        encoding=detect_encoding(handle.name),
                    )
                except (FileError, ValidationError) as exc:
                    form.add_error("file", str(exc) if isinstance(exc, FileError) else "; ".join(exc.messages))
                else:
                    for error in report.errors[:50]:
                        self.message_user(request, error, messages.ERROR)
                    self.message_user(request, report.summary(), messages.WARNING if report.counts["rejected"] else messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:riskcontrol_manualadjustment_changelist"))
        context = {**self.admin_site.each_context(request), "title": _("Adjustments from a file"), "opts": self.model._meta, "form": form}
        return TemplateResponse(request, "admin/riskcontrol/manualadjustment/batch.html", context)
    add_fields = ("member", "currency", "amount", "reason_code", "reason", "reference")

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        return [f.name for f in self.model._meta.fields if f.name != "id"]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm("riskcontrol.view_manualadjustment")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            created = adjustment_request(actor=request.user, **{f: data[f] for f in self.add_fields})
        except (ValidationError, PermissionDenied) as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.pk = created.pk
        if created.status == ManualAdjustment.Status.PENDING:
            self.message_user(request, _("The adjustment is above the approval threshold and waits for another staff member's approval."), messages.WARNING)

    @admin.action(description=_("Approve and book the selected adjustments"), permissions=["approve"])
    def approve_adjustments(self, request, queryset):
        done = 0
        for adjustment in queryset:
            try:
                adjustment_approve(adjustment=adjustment, actor=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"#{adjustment.pk}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d adjustment(s) approved and booked.") % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Reject the selected adjustments"), permissions=["approve"])
    def reject_adjustments(self, request, queryset):
        note = request.POST.get("note", "").strip()
        if "apply" not in request.POST or not note:
            return TemplateResponse(
                request,
                "admin/riskcontrol/manualadjustment/reject.html",
                {**self.admin_site.each_context(request), "adjustments": list(queryset), "title": _("Reject adjustments")},
            )
        done = 0
        for adjustment in queryset:
            try:
                adjustment_reject(adjustment=adjustment, actor=request.user, note=note)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"#{adjustment.pk}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d adjustment(s) rejected.") % {"n": done}, messages.SUCCESS)

    def has_approve_permission(self, request):
        return request.user.has_perm("riskcontrol.approve_manualadjustment")


@admin.register(BlockedCredit)
class BlockedCreditAdmin(admin.ModelAdmin):
    """What the blacklist withheld; read-only, released (credited once) by an action after review."""

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
        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            return TemplateResponse(
                request,
                "admin/riskcontrol/blockedcredit/release.html",
                {**self.admin_site.each_context(request), "blocked": list(queryset), "title": _("Release blocked credits")},
            )
        done = 0
        for blocked in queryset:
            try:
                if blocked.released_at is None:
                    blocked_credit_release(blocked=blocked, actor=request.user, reason=reason)
                    done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"#{blocked.pk}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d blocked credit(s) released.") % {"n": done}, messages.SUCCESS)


@admin.register(AnomalyRule)
class AnomalyRuleAdmin(admin.ModelAdmin):
    """The anomaly rules: a type, its parameters (checked on save), severity and automatic suspension."""

    list_display = ("code", "name", "kind", "severity", "is_active", "auto_suspend", "updated_at")
    list_filter = ("kind", "severity", "is_active")
    search_fields = ("code", "name")
    show_full_result_count = False
    fields = ("code", "name", "kind", "params", "severity", "is_active", "auto_suspend")

    def has_delete_permission(self, request, obj=None):
        return False  # alerts point at their rule: switch a rule off instead


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    fields = ("created_at", "actor", "from_status", "to_status", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Alerts raised by the anomaly scan, worked through their workflow by actions (each recorded)."""

    list_display = ("first_seen_at", "rule", "member", "severity", "status", "incident_key", "list_entry")
    list_filter = ("status", "severity", "rule")
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
        note = request.POST.get("note", "").strip()
        if needs_note and ("apply" not in request.POST or not note):
            return TemplateResponse(
                request,
                "admin/riskcontrol/alert/transition.html",
                {**self.admin_site.each_context(request), "alerts": list(queryset), "action": action, "question": question,
                 "title": question},
            )
        done = 0
        for alert in queryset:
            try:
                alert_transition(alert=alert, to=to, actor=request.user, note=note)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"#{alert.pk}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR)
        if done:
            self.message_user(
                request, _("%(n)d alert(s) now %(status)s.") % {"n": done, "status": Alert.Status(to).label}, messages.SUCCESS
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
