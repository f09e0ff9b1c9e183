from django.contrib import admin


class LedgerAdmin(admin.ModelAdmin):
    """Ledger rows are shown, never added, changed or deleted — by anyone, superusers included."""

    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
