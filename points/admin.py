from django.contrib import admin

from common.admin import LedgerAdmin

from .models import PointsAccount, PointsEntry, PointsLot


@admin.register(PointsEntry)
class PointsEntryAdmin(LedgerAdmin):
    list_display = ("booked_at", "member", "kind", "amount", "capped", "effective_at", "source", "source_ref", "rule", "created_by", "reason")
    list_filter = ("kind", "source")
    search_fields = ("=member__member_id", "=source_ref")
    list_select_related = ("member", "rule", "created_by")
    date_hierarchy = "effective_at"


@admin.register(PointsAccount)
class PointsAccountAdmin(LedgerAdmin):
    list_display = ("member", "balance", "updated_at")
    search_fields = ("=member__member_id",)
    list_select_related = ("member",)


@admin.register(PointsLot)
class PointsLotAdmin(LedgerAdmin):
    list_display = ("member", "earned_at", "expires_at", "amount", "remaining")
    search_fields = ("=member__member_id",)
    list_select_related = ("member",)
