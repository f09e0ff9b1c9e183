from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from .models import ManualAdjustment
from .services import adjustment_approve, adjustment_reject, adjustment_request


@admin.register(ManualAdjustment)
class ManualAdjustmentAdmin(admin.ModelAdmin):
    list_display = ("requested_at", "member", "currency", "amount", "reason_code", "reason", "status", "requested_by", "decided_by")
    list_filter = ("status", "currency", "reason_code")
    search_fields = ("=member__member_id", "=reference")
    list_select_related = ("member", "requested_by", "decided_by")
    autocomplete_fields = ("member",)
    show_full_result_count = False
    actions = ["approve_adjustments", "reject_adjustments"]
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
