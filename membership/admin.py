import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext, ngettext
from django.forms.models import BaseInlineFormSet
from import_export.admin import ImportExportMixin
from import_export.results import RowResult

from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group, User
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from common.admin import (
    LedgerAdmin,
    LedgerEntryAdmin,
    LocalDateExportMixin,
    ProtectedDeleteInlineMixin,
    ProtectedDeleteMixin,
    UnchangedSavesNothingForm,
    refusal_sentence,
    UnchangedTimesKept,
)
from common.exports import StreamedExportMixin
from common.params_form import params_fieldsets, typed_params_form
from common.permission_labels import TranslatedPermissionsMixin, group_label
from common.spreadsheets import EXPORT_FORMATS
from common.timeutil import shown
from points.selectors import points_available_get, points_next_expiry_get

from .hooks import IMPORT_KINDS, MEMBER_ADMIN_ACTIONS, member_sections_render, member_tools_get
from .imports import import_job_create
from .presets import PRESETS
from .rules import STRATEGIES
from .models import (
    DailyRuleRun,
    EarningRule,
    GrowthEntry,
    ImportJob,
    Level,
    LevelChange,
    Member,
    MemberEvent,
    Order,
    OrderCredit,
    PersonalDataErasure,
    Program,
    SettlementChunk,
    SettlementRun,
)
from .lifecycle import LIFECYCLE_LABELS
from .resources import IMPORT_FORMATS, MemberExportResource, MemberImportResource, OrderExportResource, OrderImportResource
from .selectors import (
    LIFECYCLE_STAGES,
    NoActiveProgram,
    level_members_q,
    levels_shown,
    member_level_progress_get,
    member_lifecycle_get,
    member_lifecycle_q,
    members_search,
    members_sharing_phone_count,
    program_active_get,
)
from .services import (
    member_data_erase,
    member_data_export,
    SettlementRefused,
    UnknownPreset,
    levels_validate,
    program_activate,
    program_schedules_sync,
    program_load,
    program_switch_preview,
    program_thresholds_apply,
    settlement_default_month,
    settlement_month_parse,
    settlement_preview,
    settlement_queue,
    settlement_whatif,
)


class ServiceImportExportMixin(LocalDateExportMixin, ImportExportMixin):
    """django-import-export's import (preview, then confirm) and export, with the import services
    underneath; a file over ``IMPORT_IN_REQUEST_MAX_BYTES`` becomes an import job for a worker."""

    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    import_template_name = "admin/membership/import.html"
    skip_admin_log = True  # the ledgers and the import jobs are the record of what an import did
    import_job_kind = ""
    import_resource_classes: list = []
    export_resource_classes: list = []

    def get_import_resource_classes(self, request):
        return self.import_resource_classes

    def get_export_resource_classes(self, request):
        return self.export_resource_classes

    def import_action(self, request, **kwargs):
        upload = request.FILES.get("import_file") if request.method == "POST" else None
        if upload is not None and upload.size > settings.IMPORT_IN_REQUEST_MAX_BYTES:
            if not self.has_import_permission(request):
                raise PermissionDenied
            return import_job_redirect(self, request, kind=self.import_job_kind, upload=upload)
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if result is not None and "confirm_form" not in context and not result.has_errors() and result.has_validation_errors():
            valid = sum(result.totals[kind] for kind in (RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE, RowResult.IMPORT_TYPE_SKIP))
            if valid:  # as the command does: the valid rows can be booked, the rejected ones are listed and kept
                context["confirm_form"] = self.create_confirm_form(request, import_form=context.get("form"))
                context["valid_rows"] = valid
        return response

    def process_result(self, result, request):
        """After a confirmed import: the changelist, or, if rows were rejected, the record of the
        import (``import_job_record``), whose page offers the rejected-rows file."""
        response = super().process_result(result, request)
        job = getattr(result, "import_job", None)
        if job is not None and job.rejected_file:
            self.message_user(
                request,
                _("%(n)s row(s) were rejected and not imported: their reasons are in the rejected-rows file of import job #%(job)s.")
                % {"n": f"{job.counts.get('rejected', 0):,}", "job": job.pk},
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:membership_importjob_change", args=[job.pk]))
        return response


def import_job_redirect(model_admin, request, *, kind: str, upload, options: dict | None = None):
    """Make a large upload an import job of ``kind`` and take the user to the job's page."""
    job = import_job_create(kind=kind, upload=upload, actor=request.user, options=options)
    model_admin.message_user(
        request,
        _("%(name)s is large (%(size)s MB): it is imported by a worker as job #%(job)s; its progress and result are on this page.")
        % {"name": upload.name, "size": f"{upload.size / 1e6:.1f}", "job": job.pk},
        messages.INFO,
    )
    return HttpResponseRedirect(reverse("admin:membership_importjob_change", args=[job.pk]))


class LevelFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        levels = [
            (form.cleaned_data["code"], form.cleaned_data["rank"], form.cleaned_data["threshold"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        levels_validate(levels)


class LevelInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = Level
    formset = LevelFormSet
    extra = 0
    fields = ("rank", "code", "name", "name_en", "threshold", "validity_months")


class EarningRuleInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    """The program's rules at a glance; a rule's parameters are edited on its own page, as the
    typed fields of its type (``EarningRuleAdmin``)."""

    model = EarningRule
    form = UnchangedSavesNothingForm
    extra = 0
    fields = ("code", "name", "kind", "currency", "priority", "parameters", "valid_from", "valid_until", "is_active")
    readonly_fields = ("kind", "parameters")
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # a rule is added on its own page, with the fields of its type

    @admin.display(description=_("parameters"))
    def parameters(self, rule):
        return ", ".join(f"{name}={value}" for name, value in (rule.params or {}).items()) or "-"


@admin.register(EarningRule)
class EarningRuleAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    """An earning rule: its type and the typed parameters of that type, checked by the type."""

    list_display = ("code", "name", "program", "kind", "currency", "priority", "valid_from", "valid_until", "is_active")
    list_filter = ("program", "kind", "currency", "is_active")
    search_fields = ("code", "name")
    form = typed_params_form(
        EarningRule, STRATEGIES, base=UnchangedSavesNothingForm,
        fields=("program", "code", "name", "kind", "currency", "priority", "valid_from", "valid_until", "is_active"),
    )
    change_form_template = "admin/typed_params_change_form.html"

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ("program", "code", "name", "kind", "currency", "priority")}),
            *params_fieldsets(STRATEGIES, dict(EarningRule._meta.get_field("kind").flatchoices)),
            (_("When it applies"), {"fields": ("valid_from", "valid_until", "is_active")}),
        ]


@admin.register(Program)
class ProgramAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    list_display = ("code", "name", "is_active", "growth_window_months", "settlement_day", "points_expiry", "daily_growth_cap")
    inlines = [LevelInline, EarningRuleInline]
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "is_active", "time_zone")}),
        (_("Levels and settlement"), {"fields": ("growth_window_months", "settlement_day", "settlement_hour")}),
        (_("Points expiry"), {"fields": ("points_expiry", "points_expiry_years", "points_expiry_months", "points_expiry_days")}),
        (_("What orders earn on"), {"fields": ("offset_earns",)}),
        (_("Caps per member"), {"fields": ("daily_growth_cap", "monthly_growth_cap", "daily_points_cap", "monthly_points_cap")}),
        (_("Manual adjustments and points value"), {"fields": ("adjustment_approval_threshold", "adjustment_max_amount", "points_per_yuan")}),
        (_("Reminders to members"), {"fields": ("points_expiry_notice_days", "level_risk_notice_days")}),
        (_("Lifecycle stages"), {"fields": ("lifecycle_new_days", "lifecycle_dormant_days", "lifecycle_lost_days", "lifecycle_loyal_rank")}),
    )

    change_form_template = "admin/membership/program/change_form.html"
    readonly_fields = ("is_active",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.is_active:
            program_schedules_sync(program=obj)

    def get_urls(self):
        whatif, activate = self.admin_site.admin_view(self.whatif_view), self.admin_site.admin_view(self.activate_view)
        return [
            path("<int:pk>/whatif/", whatif, name="membership_program_whatif"),
            path("<int:pk>/activate/", activate, name="membership_program_activate"),
            path("presets/", self.admin_site.admin_view(self.presets_view), name="membership_program_presets"),
            *super().get_urls(),
        ]

    def presets_view(self, request):
        """The presets, each with what it models; loading one (``program_load``) leaves the active
        program as it is and offers the switch, with its preview."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            code = request.POST.get("preset", "")
            try:
                program, changed = program_load(name=code, activate=False, actor=request.user)
            except (ValidationError, PermissionDenied, UnknownPreset) as exc:
                self.message_user(request, refusal_sentence(exc), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:membership_program_presets"))
            self.message_user(request, ngettext(
                "Preset %(preset)s loaded into program %(program)s: %(n)s row changed.",
                "Preset %(preset)s loaded into program %(program)s: %(n)s rows changed.", changed,
            ) % {"preset": code, "program": program, "n": f"{changed:,}"}, messages.SUCCESS)
            if program.is_active:
                return HttpResponseRedirect(reverse("admin:membership_program_change", args=[program.pk]))
            return HttpResponseRedirect(reverse("admin:membership_program_activate", args=[program.pk]))
        loaded = {p.code: p for p in Program.objects.all()}
        presets = [
            {
                "code": code, "name": spec["name"], "description": gettext(spec["description"]) if spec.get("description") else "",
                "levels": " · ".join(f"{level['code']} {level['threshold']:,}" for level in sorted(spec["levels"], key=lambda l: l["rank"])),
                "window": spec.get("growth_window_months"), "program": loaded.get(code),
            }
            for code, spec in sorted(PRESETS.items())
        ]
        context = {
            **self.admin_site.each_context(request), "title": _("Load a preset"), "opts": self.model._meta, "presets": presets,
            "can_load": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/membership/program/presets.html", context)

    def activate_view(self, request, pk):
        """Switching the active program: the next settlement under each, then the switch on confirmation."""
        program = get_object_or_404(Program, pk=pk)
        if not self.has_view_permission(request, program):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_change_permission(request, program):
                raise PermissionDenied
            try:
                program_activate(program=program, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, _("%(program)s is now the active program; the next settlement uses its rules.") % {"program": program}, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:membership_program_change", args=[program.pk]))
        result = None if program.is_active else program_switch_preview(program=program)
        context = {
            **self.admin_site.each_context(request), "title": _("Make %(program)s the active program") % {"program": program},
            "opts": self.model._meta, "original": program, "result": result,
            "can_switch": self.has_change_permission(request, program),
        }
        if result:
            context["rows_now"] = [(level, result["now"]["levels_after"][level.code]) for level in result["levels_now"]]
            context["rows_proposed"] = [(level, result["proposed"]["levels_after"][level.code]) for level in result["levels_proposed"]]
        return TemplateResponse(request, "admin/membership/program/activate.html", context)

    def whatif_view(self, request, pk):
        """Other thresholds, tried before saving them: who would move up and down at the next settlement."""
        program = get_object_or_404(Program, pk=pk)
        if not self.has_view_permission(request, program):
            raise PermissionDenied
        levels = list(program.levels.order_by("rank"))
        fields = {level.code: forms.IntegerField(label=f"{level.code} {level.display_name}", min_value=0, initial=level.threshold) for level in levels}
        form = type("WhatIfForm", (forms.Form,), fields)(request.POST or None)
        result, applied = None, False
        if request.method == "POST" and form.is_valid():
            try:
                if "apply" in request.POST:
                    changed = program_thresholds_apply(program=program, thresholds=form.cleaned_data, actor=request.user)
                    applied = True
                    self.message_user(request, ngettext(
                        "The thresholds are saved (%(n)s level changed); below, the next settlement under them.",
                        "The thresholds are saved (%(n)s levels changed); below, the next settlement under them.", changed,
                    ) % {"n": changed}, messages.SUCCESS)
                    levels = list(program.levels.order_by("rank"))
                result = settlement_whatif(thresholds=form.cleaned_data)
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, exc if isinstance(exc, ValidationError) else str(exc))
        rows = []
        if result:
            for level in levels:
                now, proposed = result["now"]["levels_after"][level.code], result["proposed"]["levels_after"][level.code]
                rows.append((level, now, proposed, proposed - now))
        context = {
            **self.admin_site.each_context(request), "title": _("What if the thresholds were different"), "opts": self.model._meta,
            "original": program, "form": form, "result": result, "rows": rows, "applied": applied,
            "can_apply": request.user.has_perm("membership.change_level"),
        }
        return TemplateResponse(request, "admin/membership/program/whatif.html", context)


class LevelChangeInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    """Why the member has the level they have: every settlement that changed or renewed it."""

    model = LevelChange
    fields = ("run", "from_level", "to_level", "valid_until", "window_growth", "reason")
    readonly_fields = fields
    ordering = ("-run__month",)
    extra = 0
    can_delete = False
    verbose_name_plural = _("level history")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LifecycleFilter(admin.SimpleListFilter):
    title = _("lifecycle stage")
    parameter_name = "lifecycle"

    def lookups(self, request, model_admin):
        return list(LIFECYCLE_LABELS.items())

    def queryset(self, request, queryset):
        if self.value() not in LIFECYCLE_STAGES:
            return queryset
        try:
            program = program_active_get()
        except NoActiveProgram:
            return queryset.none()
        return queryset.filter(member_lifecycle_q(program=program, stage=self.value()))


class ActiveProgramLevelFilter(admin.RelatedFieldListFilter):
    """The levels of the active program, in rank order (not every program's levels mixed); a level
    finds the members who hold it now, those still placed on a former program's level included."""

    def field_choices(self, field, request, model_admin):
        return [(level.pk, str(level)) for level in Level.objects.filter(program__is_active=True).order_by("rank")]

    def queryset(self, request, queryset):
        wanted = str(self.lookup_val[-1]) if self.lookup_val else ""
        level = Level.objects.filter(pk=int(wanted), program__is_active=True).first() if wanted.isdigit() else None
        if level is None:
            return super().queryset(request, queryset)
        return queryset.filter(level_members_q(level=level))


def member_level_column(shown: dict):
    """The members list's level column: the level each member holds under the active program,
    from one look-up of the levels per page (``levels_shown``)."""

    def level(member):
        held = shown.get(member.level_id, shown.get(None))
        return str(held) if held else "-"

    level.short_description = _("level")
    level.admin_order_field = "level__rank"
    return level


@admin.register(Member)
class MemberAdmin(ProtectedDeleteMixin, ServiceImportExportMixin, admin.ModelAdmin):
    form = UnchangedSavesNothingForm
    inlines = [LevelChangeInline]
    change_form_template = "admin/membership/member/change_form.html"
    import_resource_classes = [MemberImportResource]
    export_resource_classes = [MemberExportResource]
    import_job_kind = "members"
    list_display = ("member_id", "name", "phone", "level", "level_valid_until", "status", "joined_at")
    list_filter = ("status", ("level", ActiveProgramLevelFilter), LifecycleFilter, ("joined_at", admin.DateFieldListFilter))
    search_fields = ("member_id", "phone", "name")
    search_help_text = _("A member id or its beginning, a phone number or its last four or more digits, or part of a name.")

    def has_delete_permission(self, request, obj=None):
        return False  # a member's ledgers and history keep them; personal data is erased instead

    def get_list_display(self, request):
        try:
            shown = levels_shown()
        except NoActiveProgram:
            return self.list_display
        return [member_level_column(shown) if name == "level" else name for name in self.list_display]

    @property
    def actions(self):
        """The actions the other apps add to the members list (``hooks.member_admin_action``), then
        the member's data rights."""
        return [*MEMBER_ADMIN_ACTIONS, "export_personal_data", "erase_personal_data"]

    def has_export_personal_data_permission(self, request):
        return request.user.has_perm("membership.export_personal_data")

    def has_erase_personal_data_permission(self, request):
        return request.user.has_perm("membership.erase_personal_data")

    @admin.action(description=_("Export everything held on the selected member (JSON)"), permissions=["export_personal_data"])
    def export_personal_data(self, request, queryset):
        members = list(queryset[:2])
        if len(members) != 1:
            self.message_user(request, _("Choose one member: an export holds everything held on one person."), messages.ERROR)
            return None
        member = members[0]
        data = member_data_export(member=member, actor=request.user)
        response = HttpResponse(
            json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
        )
        day = timezone.localtime().date()
        response["Content-Disposition"] = f'attachment; filename="member-{slugify(member.member_id) or member.pk}-data-{day:%Y-%m-%d}.json"'
        return response

    @admin.action(description=_("Erase the personal data of the selected members…"), permissions=["erase_personal_data"])
    def erase_personal_data(self, request, queryset):
        form = ErasureForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request, "admin/membership/member/erase_personal_data.html",
                {**self.admin_site.each_context(request), "members": list(queryset[:200]), "form": form, "title": _("Erase personal data"),
                 "opts": self.model._meta},
            )
        done = 0
        for member in queryset:
            try:
                member_data_erase(member=member, actor=request.user, reason=form.cleaned_data["reason"])
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{member.member_id}: {'; '.join(exc.messages)}", messages.ERROR)
        if done:
            self.message_user(request, _("The personal data of %(n)d member(s) was erased.") % {"n": done}, messages.SUCCESS)
        return None

    def get_readonly_fields(self, request, obj=None):
        """A member's id is the platform's key for them: set once. The base score counts toward the
        level: only a role that may set it changes it."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.insert(0, "member_id")
        if not request.user.has_perm("membership.change_base_score"):
            fields.append("base_score")
        return fields

    def get_search_results(self, request, queryset, search_term):
        """As customer service searches (``members_search``): an id or phone whole, the beginning
        of an id, the last four or more digits of a phone, part of a name."""
        return members_search(queryset, search_term), False

    list_select_related = ("level",)
    show_full_result_count = False
    readonly_fields = (
        "level_held", "level_valid_until", "lifecycle", "last_active_at", "level_progress", "points_summary", "recent_growth", "recent_points",
        "created_at", "updated_at",
    )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The member's own fields, then the sections the other apps register (``hooks.member_section``)."""
        member = self.get_object(request, object_id)
        if member is not None and request.method == "GET" and (sharing := members_sharing_phone_count(member=member)):
            messages.warning(request, ngettext(
                "Phone %(phone)s is also the phone of %(n)s other member: check that they are not the same person.",
                "Phone %(phone)s is also the phone of %(n)s other members: check that they are not the same person.", sharing,
            ) % {"phone": member.phone, "n": f"{sharing:,}"})
        extra_context = {
            **(extra_context or {}),
            "member_sections": member_sections_render(member=member, request=request) if member else [],
            "member_tools": member_tools_get(member=member, request=request) if member else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("level"))
    def level_held(self, obj):
        """The level under the active program; a level a former program gave says which it was."""
        if obj.pk is None:
            return "-"
        try:
            held = levels_shown().get(obj.level_id)
        except NoActiveProgram:
            return str(obj.level) if obj.level_id else "-"
        if obj.level_id and held.pk != obj.level_id:
            return _("%(level)s (placed at %(former)s of program %(program)s before the switch; the next settlement places the member on this program's levels)") % {
                "level": held, "former": obj.level, "program": obj.level.program.code,
            }
        return str(held)

    @admin.display(description=_("lifecycle stage"))
    def lifecycle(self, obj):
        return LIFECYCLE_LABELS[member_lifecycle_get(member=obj)] if obj.pk else "-"
    ordering = ("-pk",)

    @admin.display(description=_("level progress"))
    def level_progress(self, obj):
        if obj.pk is None:
            return "-"
        p = member_level_progress_get(member=obj)
        start, end = p["window"]
        window = _("lifetime") if start is None else f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"
        growth = _("%(growth)s growth in the window %(window)s") % {"growth": f"{p['window_growth'] - obj.base_score:,}", "window": window}
        if obj.base_score:
            growth = _("%(growth)s, plus a base score of %(base)s") % {"growth": growth, "base": f"{obj.base_score:,}"}
        parts = [
            growth,
            _("%(n)s more to keep %(level)s") % {"n": f"{p['to_keep']:,}", "level": p["level"].code} if p["to_keep"] else _("enough to keep %(level)s") % {"level": p["level"].code},
        ]
        if p["next_level"] and p["to_next"]:
            parts.append(_("%(n)s more to reach %(level)s") % {"n": f"{p['to_next']:,}", "level": p["next_level"].code})
            if p["months_to_next"]:
                parts.append(
                    _("about %(months)s month(s) at the pace of the last 3 months (%(pace)s a month)")
                    % {"months": p["months_to_next"], "pace": f"{p['monthly_pace']:,}"}
                )
        elif p["next_level"]:
            parts.append(_("reaches %(level)s or higher at the next settlement") % {"level": p["next_level"].code})
        text = "; ".join(str(part) for part in parts)
        if p["drops_to"] is not None:
            warning = _("Warning: the settlement of %(month)s drops this member to %(level)s unless %(n)s more growth is earned this month.") % {
                "month": f"{p['next_settlement']:%Y-%m}", "level": p["drops_to"].code, "n": f"{p['to_keep']:,}"
            }
            return format_html('{}<br><strong class="errornote" style="display:inline-block">{}</strong>', text, warning)
        return text

    @admin.display(description=_("latest growth entries"))
    def recent_growth(self, obj):
        return self._recent(obj, obj.growth_entries, "admin:membership_growthentry_changelist") if obj.pk else "-"

    @admin.display(description=_("latest points entries"))
    def recent_points(self, obj):
        return self._recent(obj, obj.points_entries, "admin:points_pointsentry_changelist") if obj.pk else "-"

    def _recent(self, obj, entries, changelist):
        """The ten newest ledger entries; the whole ledger is the changelist filtered to the member
        (paginated, newest first, filterable by kind, source and date)."""
        rows = entries.select_related("rule").order_by("-effective_at", "-pk")[:10]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td style='text-align:right'>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{timezone.localtime(e.effective_at):%Y-%m-%d %H:%M}", e.get_kind_display(), f"{e.amount:+,}", e.get_source_display(), e.source_ref or e.reason)
                for e in rows
            ),
        )
        link = format_html('<a href="{}?q={}">{}</a>', reverse(changelist), obj.member_id, _("the whole ledger"))
        return format_html("<table>{}</table>{}", body, link)

    @admin.display(description=_("points"))
    def points_summary(self, obj):
        if obj.pk is None:
            return "-"
        available = points_available_get(member=obj)
        when, amount = points_next_expiry_get(member=obj)
        text = _("%(n)s available") % {"n": f"{available:,}"}
        if when and amount:
            text += "; " + _("%(n)s expire on %(date)s") % {"n": f"{amount:,}", "date": shown(when)}
        return text


@admin.register(Order)
class OrderAdmin(ProtectedDeleteMixin, ServiceImportExportMixin, admin.ModelAdmin):
    import_resource_classes = [OrderImportResource]
    export_resource_classes = [OrderExportResource]
    import_job_kind = "orders"
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
class GrowthEntryAdmin(LedgerEntryAdmin):
    pass


class SettlementChunkInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = SettlementChunk
    fields = ("first_member", "last_member", "status", "members_evaluated", "members_up", "members_down", "members_renewed", "points_expired", "benefits_issued", "worker", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class SettleForm(forms.Form):
    month = forms.CharField(label=_("month"), help_text=_("YYYY-MM, e.g. 2026-10"), max_length=7)


@admin.register(DailyRuleRun)
class DailyRuleRunAdmin(LedgerAdmin):
    """The days booked by the time-based rules (the ``Daily rules`` schedule or ``daily_rules``)."""

    list_display = ("day", "program", "trigger", "finished_at", "counts")
    list_filter = ("program",)
    list_select_related = ("program",)
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(SettlementRun)
class SettlementRunAdmin(LedgerAdmin):
    list_display = (
        "month", "status", "started_at", "finished_at", "trigger", "members_evaluated", "members_up",
        "members_down", "members_kept", "members_renewed", "points_expired", "benefits_issued",
    )
    inlines = [SettlementChunkInline]
    change_list_template = "admin/membership/settlementrun/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.settle_view)
        return [path("settle/", view, name="membership_settlementrun_settle"), *super().get_urls()]

    def settle_view(self, request):
        """Preview the settlement of a month (what would change, by level), then start it on the workers."""
        if not request.user.has_perm("membership.add_settlementrun"):
            raise PermissionDenied
        form = SettleForm(request.POST or None, initial={"month": f"{settlement_default_month():%Y-%m}"})
        preview = None
        if request.method == "POST" and form.is_valid():
            try:
                month = settlement_month_parse(form.cleaned_data["month"])
                if "run" in request.POST:
                    settlement_queue(month=month, actor=request.user)
                    self.message_user(request, _("The settlement of %(month)s was started on the workers.") % {"month": f"{month:%Y-%m}"})
                    return HttpResponseRedirect(reverse("admin:membership_settlementrun_changelist"))
                outcome = settlement_preview(month=month)
                if outcome.already_done:
                    form.add_error(
                        "month", _("%(month)s is already settled (run finished %(at)s): settling it again changes nothing.")
                        % {"month": f"{month:%Y-%m}", "at": f"{timezone.localtime(outcome.run.finished_at):%Y-%m-%d %H:%M}"},
                    )
                preview = outcome.preview
            except (ValidationError, SettlementRefused, PermissionDenied) as exc:
                form.add_error("month", exc.messages[0] if isinstance(exc, ValidationError) else str(exc))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Settle a month"),
            "opts": self.model._meta,
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, "admin/membership/settlementrun/settle.html", context)


@admin.register(LevelChange)
class LevelChangeAdmin(StreamedExportMixin, LedgerAdmin):
    export_columns = ("run__month", "member__member_id", "from_level__code", "to_level__code", "valid_until", "window_growth", "reason")
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


class ErasureForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"), max_length=255, help_text=_("The request this answers, e.g. its ticket number. The erasure cannot be undone.")
    )


class ImportJobForm(forms.ModelForm):
    kind = forms.ChoiceField(label=_("kind"), choices=lambda: [(spec.key, spec.label) for spec in IMPORT_KINDS.values() if spec.on_job_page])

    class Meta:
        model = ImportJob
        fields = ("kind", "file", "book_points")
        help_texts = {
            "file": _("CSV (UTF-8 or GB18030) or Excel (.xlsx) with the columns of CONTRACT.md for its kind."),
        }


@admin.register(PersonalDataErasure)
class PersonalDataErasureAdmin(LedgerAdmin):
    """The record of each erasure: read only, as a ledger (it cannot be undone, and is not deleted)."""

    list_display = ("member", "erased_at", "erased_by", "reason")
    search_fields = ("member__member_id", "reason")
    list_select_related = ("member", "erased_by")
    readonly_fields = ("member", "reason", "erased_by", "erased_at", "rows_changed")


@admin.register(ImportJob)
class ImportJobAdmin(ProtectedDeleteMixin, admin.ModelAdmin):
    form = ImportJobForm
    list_display = ("id", "kind_label", "original_name", "status", "progress", "result", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    search_fields = ("original_name",)
    list_select_related = ("created_by",)
    readonly_fields = (
        "kind_label", "original_name", "book_points", "options", "status", "progress", "result", "rejected_rows", "error",
        "created_by", "created_at", "started_at", "finished_at",
    )
    change_form_template = "admin/membership/importjob/change_form.html"

    def get_fields(self, request, obj=None):
        return ("kind", "file", "book_points") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False  # a job's result is kept as it ran

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        job = import_job_create(
            kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"], actor=request.user, book_points=form.cleaned_data["book_points"]
        )
        obj.pk, obj.file, obj.original_name = job.pk, job.file, job.original_name

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, obj):
        return obj.kind_label

    @admin.display(description=_("progress"))
    def progress(self, obj):
        if not obj.rows_total:
            return "-" if obj.status != ImportJob.Status.DONE else f"{obj.rows_done:,}"
        return f"{obj.rows_done:,} / {obj.rows_total:,} ({obj.rows_done * 100 // obj.rows_total}%)"

    @admin.display(description=_("result"))
    def result(self, obj):
        return ", ".join(f"{k} {v:,}" for k, v in obj.counts.items()) or "-"

    @admin.display(description=_("rejected rows"))
    def rejected_rows(self, obj):
        if not obj.rejected_file:
            return "-"
        url = reverse("admin:membership_importjob_rejected", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.rejected_file.name.rsplit("/", 1)[-1])

    def get_urls(self):
        view = self.admin_site.admin_view(self.rejected_download)
        return [path("<int:pk>/rejected/", view, name="membership_importjob_rejected"), *super().get_urls()]

    def rejected_download(self, request, pk):
        """The rejected rows of a job, to staff who may see the job (not a public media URL)."""
        job = get_object_or_404(ImportJob, pk=pk)
        if not self.has_view_permission(request, job) or not job.rejected_file:
            raise PermissionDenied
        return FileResponse(job.rejected_file.open("rb"), as_attachment=True, filename=job.rejected_file.name.rsplit("/", 1)[-1])


class StaffUserChangeForm(UnchangedTimesKept, UserChangeForm):
    """A staff user's page saved back unchanged keeps the date joined to the microsecond."""


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(TranslatedPermissionsMixin, ProtectedDeleteMixin, GroupAdmin):
    """Roles (groups) with their permissions listed in the console's language."""

    list_display = ("role_name",)

    @admin.display(description=_("name"), ordering="name")
    def role_name(self, obj):
        return group_label(obj)


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class ScheduleAdmin(PeriodicTaskAdmin):
    """The schedules the programs make (the monthly settlement, the daily rules…) named in the
    console's language; a schedule made by hand keeps its own name."""

    list_display = ("schedule_name", *PeriodicTaskAdmin.list_display[1:])

    @admin.display(description=_("name"), ordering="name")
    def schedule_name(self, obj):
        return gettext(obj.name)


@admin.register(User)
class StaffUserAdmin(TranslatedPermissionsMixin, ProtectedDeleteMixin, UserAdmin):
    form = StaffUserChangeForm
