from django.contrib import admin

from .models import Benefit


@admin.register(Benefit)
class BenefitAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "min_level", "program", "is_active")
    list_filter = ("program", "kind", "min_level", "is_active")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("min_level", "program")
