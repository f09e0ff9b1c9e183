from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from common.admin import LedgerAdmin, LocalDateExportMixin, ProtectedDeleteInlineMixin, ProtectedDeleteMixin, UnchangedSavesNothingForm
from common.spreadsheets import EXPORT_FORMATS

from .models import Benefit, BenefitGrant, BenefitLevel
from .resources import BenefitResource


class BenefitLevelInline(ProtectedDeleteInlineMixin, admin.TabularInline):
    model = BenefitLevel
    extra = 0
    autocomplete_fields = ()
    fields = ("level", "quantity")


@admin.register(Benefit)
class BenefitAdmin(ProtectedDeleteMixin, LocalDateExportMixin, ImportExportMixin, admin.ModelAdmin):
    form = UnchangedSavesNothingForm
    list_display = ("code", "name", "kind", "trigger", "min_level", "points", "stock", "issued", "program", "is_active")
    list_filter = ("program", "kind", "trigger", "min_level", "is_active")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("min_level", "program")
    show_full_result_count = False
    readonly_fields = ("issued",)
    inlines = [BenefitLevelInline]
    resource_classes = [BenefitResource]
    export_formats = EXPORT_FORMATS
    fieldsets = (
        (None, {"fields": ("program", "code", "name", "name_en", "kind", "description", "is_active")}),
        (_("Who and when"), {"fields": ("min_level", "trigger", "claim_limit", "starts_at", "ends_at")}),
        (_("What"), {"fields": ("points", "validity_days", "stock", "issued")}),
    )


@admin.register(BenefitGrant)
class BenefitGrantAdmin(LedgerAdmin):
    """Grants are made by the settlement, the daily task and claims: read-only here."""

    list_display = ("granted_at", "member", "benefit", "period", "quantity", "status", "valid_until", "list_entry", "run")
    list_filter = ("status", "benefit__trigger", "benefit")
    list_select_related = ("member", "benefit", "list_entry__member", "run")
    raw_id_fields = ("member", "list_entry", "points_entry", "run")
    search_fields = ("member__member_id",)
    search_help_text = _("A member id, exactly.")
    ordering = ("-granted_at", "-pk")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(member__member_id=term), False
