"""Member lists in the console: make a list, upload its members, see who is on it and who changed it."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from common.admin import file_import_view, refusal_sentence
from membership.admin import import_job_redirect
from membership.selectors import NoActiveProgram, program_active_get

from .models import Segment, SegmentMember, SegmentUpload
from .selectors import segment_users
from .services import segment_delete, segment_members_add, segment_members_import, segment_save


class SegmentUploadForm(forms.Form):
    file = forms.FileField(label=_("file"), help_text=_("CSV (UTF-8 or GB18030) with a member_id column."))
    mode = forms.ChoiceField(label=_("what to do"), choices=SegmentUpload.Mode.choices, initial=SegmentUpload.Mode.ADD)
    reason = forms.CharField(label=_("reason"), max_length=255, help_text=_("E.g. the 618 VIP guests from the CRM export of 1 June."))


class SegmentUploadInline(admin.TabularInline):
    model = SegmentUpload
    extra = 0
    can_delete = False
    fields = ("at", "mode", "file_name", "reason", "read", "added", "removed", "unchanged", "rejected", "actor")
    readonly_fields = fields
    verbose_name_plural = _("uploads (who changed the list, and why)")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "program", "members_count", "updated_at")
    search_fields = ("code", "name")
    list_filter = ("program",)
    fields = ("program", "code", "name", "description", "condition_shown", "members_count", "members_first", "used_by", "created_by")
    readonly_fields = ("condition_shown", "members_count", "members_first", "used_by", "created_by")
    inlines = [SegmentUploadInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("program").annotate(members_n=Count("members"))

    def get_changeform_initial_data(self, request):
        try:
            active = {"program": program_active_get().pk}
        except NoActiveProgram:
            active = {}
        return {**active, **super().get_changeform_initial_data(request)}

    @admin.display(description=_("members"), ordering="members_n")
    def members_count(self, obj):
        return f"{obj.members_n:,}" if obj.pk else "0"

    @admin.display(description=_("rules name it as"))
    def condition_shown(self, obj):
        return format_html("<code>{}</code>", obj.condition) if obj.code else ""

    @admin.display(description=_("first members"))
    def members_first(self, obj):
        if not obj.pk:
            return ""
        ids = SegmentMember.objects.filter(segment=obj).order_by("member__member_id").values_list("member__member_id", flat=True)[:20]
        return ", ".join(ids) or "—"

    @admin.display(description=_("named by"))
    def used_by(self, obj):
        return (", ".join(segment_users(segment=obj)) or "—") if obj.pk else "—"

    def save_model(self, request, obj, form, change):
        segment_save(segment=obj, actor=request.user)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or not segment_users(segment=obj))

    def delete_model(self, request, obj):
        segment_delete(segment=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for segment in queryset:
            try:
                segment_delete(segment=segment, actor=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, refusal_sentence(exc), messages.ERROR)

    def get_urls(self):
        return [
            path("<int:pk>/upload/", self.admin_site.admin_view(self.upload_view), name="segments_segment_upload"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"upload_url": reverse("admin:segments_segment_upload", args=[object_id])} if self.has_change_permission(request) else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def upload_view(self, request, pk):
        """Add members to the list, take them off, or replace them, from a CSV file."""
        segment = get_object_or_404(Segment, pk=pk)
        if not self.has_change_permission(request, segment):
            raise PermissionDenied
        from_file = SegmentUploadForm(request.POST or None, request.FILES or None)
        done = reverse("admin:segments_segment_change", args=[segment.pk])
        return file_import_view(
            self, request, form=from_file,
            run=lambda *, path, name, encoding, data: segment_members_import(
                segment=segment, path=path, name=name, encoding=encoding, actor=request.user, mode=data["mode"], reason=data["reason"],
            ),
            title=_("Members of %(list)s from a file") % {"list": segment}, template="admin/segments/segment/upload.html",
            done_url=done, refused=(PermissionDenied,),
            large=lambda *, upload, data: import_job_redirect(
                self, request, kind="segment", upload=upload, options={"segment": segment.pk, "mode": data["mode"], "reason": data["reason"]},
            ),
        )


class AddToListForm(forms.Form):
    segment = forms.ModelChoiceField(label=_("member list"), queryset=Segment.objects.order_by("code"))
    reason = forms.CharField(label=_("reason"), max_length=255, help_text=_("E.g. the V4 members of Shanghai for the store opening."))


@admin.action(description=_("Add the selected members to a member list"))
def add_to_member_list(modeladmin, request, queryset):
    """A members-list action (registered in ``apps.py``): the selection, or every member the list's
    filters found ("select all"), added to a list as one upload that names the filter."""
    form = AddToListForm(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        return TemplateResponse(request, "admin/segments/member/add_to_list.html", {
            **modeladmin.admin_site.each_context(request), "form": form, "title": _("Add to a member list"),
            "members": list(queryset[:200]), "count": queryset.count(), "select_across": request.POST.get("select_across", "0"),
        })
    query = request.GET.urlencode()
    label = _("the members list, %(filter)s") % {"filter": query} if query else _("the members list, selected by hand")
    try:
        report = segment_members_add(segment=form.cleaned_data["segment"], members=queryset, actor=request.user, reason=form.cleaned_data["reason"], label=label)
    except (ValidationError, PermissionDenied) as exc:
        modeladmin.message_user(request, refusal_sentence(exc), messages.ERROR)
        return None
    modeladmin.message_user(request, _("%(list)s: %(summary)s") % {"list": form.cleaned_data["segment"], "summary": report.summary()}, messages.SUCCESS)
    return None
