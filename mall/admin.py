from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from membership.resources import EXPORT_FORMATS, IMPORT_FORMATS

from .models import MallItem, MallPrice, Redemption
from .resources import MallItemExportResource, MallItemImportResource
from .services import redemption_cancel


def _errors(exc) -> str:
    return "; ".join(getattr(exc, "messages", None) or [str(exc)])


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what members did: written by the services, shown here, never edited."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MallPriceInline(admin.TabularInline):
    model = MallPrice
    extra = 0
    fields = ("level", "points")
    autocomplete_fields = ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "level":
            from membership.models import Level

            kwargs["queryset"] = Level.objects.select_related("program").order_by("program", "rank")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(MallItem)
class MallItemAdmin(ImportExportMixin, admin.ModelAdmin):
    import_formats = IMPORT_FORMATS
    export_formats = EXPORT_FORMATS
    skip_admin_log = True
    list_display = ("code", "name", "kind", "stock", "limit_per_member", "limit_period", "available_from", "available_until", "is_active", "program")
    list_filter = ("program", "kind", "is_active")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("program",)
    show_full_result_count = False
    inlines = [MallPriceInline]

    def get_import_resource_classes(self, request):
        return [MallItemImportResource]

    def get_export_resource_classes(self, request):
        return [MallItemExportResource]


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ("redeemed_at", "member", "item", "quantity", "points", "status", "created_by", "cancelled_at", "cancelled_by")
    list_filter = ("status", ("redeemed_at", admin.DateFieldListFilter))
    search_fields = ("=member__member_id", "=item__code")
    list_select_related = ("member", "item", "created_by", "cancelled_by")
    raw_id_fields = ("member",)
    ordering = ("-redeemed_at",)
    actions = ["cancel_redemptions"]

    def get_search_results(self, request, queryset, search_term):
        from membership.models import Member

        term = search_term.strip()
        member = Member.objects.filter(member_id=term).values_list("pk", flat=True).first() if term else None
        if member is not None:
            return queryset.filter(member_id=member), False
        return super().get_search_results(request, queryset, search_term)

    def has_cancel_permission(self, request):
        return request.user.has_perm("mall.cancel_redemption")

    @admin.action(description=_("Cancel the selected redemptions (points and stock given back)"), permissions=["cancel"])
    def cancel_redemptions(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            return TemplateResponse(
                request,
                "admin/mall/redemption/cancel.html",
                {**self.admin_site.each_context(request), "redemptions": list(queryset.select_related("member", "item")), "title": _("Cancel redemptions")},
            )
        done = 0
        for redemption in queryset:
            try:
                redemption_cancel(redemption=redemption, actor=request.user, reason=reason)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"#{redemption.pk}: {_errors(exc)}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d redemption(s) cancelled.") % {"n": done}, messages.SUCCESS)
