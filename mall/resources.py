"""Import and export of mall items in the admin (django-import-export), through ``mall_items_import``."""

from django.utils.translation import gettext_lazy
from import_export import fields, resources

from membership.resources import ServiceImportResource

from .catalog import ITEM_COLUMNS, mall_items_import
from .models import MallItem


class MallItemImportResource(ServiceImportResource):
    """Mall items: ``code,name,kind`` and optionally the other columns; ``prices`` as ``V3:2250;V4:1500``."""

    import_service = staticmethod(mall_items_import)
    key_column = "code"

    class Meta:
        model = MallItem
        fields = ITEM_COLUMNS
        import_id_fields = ("code",)
        name = gettext_lazy("Mall items (with prices by level)")


class MallItemExportResource(resources.ModelResource):
    """The same columns as the import, so an exported file imports back unchanged."""

    prices = fields.Field(column_name="prices")

    class Meta:
        model = MallItem
        fields = ITEM_COLUMNS
        export_order = ITEM_COLUMNS
        name = gettext_lazy("Mall items")

    def get_queryset(self):
        return super().get_queryset().prefetch_related("prices__level")

    def dehydrate_prices(self, item) -> str:
        return ";".join(f"{p.level.code}:{p.points}" for p in sorted(item.prices.all(), key=lambda p: p.level.rank))
