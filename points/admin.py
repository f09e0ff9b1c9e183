from django.contrib import admin

from common.admin import LedgerAdmin, LedgerEntryAdmin

from .models import PointsAccount, PointsEntry, PointsLot


@admin.register(PointsEntry)
class PointsEntryAdmin(LedgerEntryAdmin):
    pass


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
