"""django-import-export resources: the admin's import (preview, then confirm) and export.

The imports run the same services as the contract commands (``membership.imports``): the preview
books the file in a transaction that is rolled back, so what it shows is exactly what the
confirmation will book; rows the services reject are shown with their row number, column and reason.
"""

import csv
from typing import Callable

import tablib
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import fields, resources
from import_export.formats import base_formats
from import_export.results import Error, RowResult

from common.csvio import FileError
from common.scratch import scratch_dir

from .imports import MEMBER_COLUMNS, ORDER_COLUMNS, ImportReport, import_job_record, members_import, orders_import
from .models import Member, Order
from .selectors import NoActiveProgram, levels_shown, members_with_totals, points_spendable, program_active_get
from .services import Rejection


class CSV(base_formats.CSV):
    """CSV as Excel saves it: UTF-8 with or without a BOM, or GB18030 (read as bytes, then decoded)."""

    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            try:
                in_stream = in_stream.decode("utf-8-sig")
            except UnicodeDecodeError:
                in_stream = in_stream.decode("gb18030")
        return tablib.import_set(in_stream, format="csv")


IMPORT_FORMATS = [CSV, base_formats.XLSX]

OUTCOME_TYPES = {
    "created": RowResult.IMPORT_TYPE_NEW,
    "changed": RowResult.IMPORT_TYPE_UPDATE,
    "unchanged": RowResult.IMPORT_TYPE_SKIP,
}


def orders_import_active(**arguments):
    """``orders_import`` under the active program."""
    return orders_import(program=program_active_get(), **arguments)


class ServiceImportResource(resources.ModelResource):
    """Imports a dataset by writing it out as the contract's CSV and running ``import_service``
    (one of ``membership.imports``'s services) on it."""

    import_service: Callable[..., ImportReport]  # set by each resource
    key_column = ""
    job_kind = ""  # the import job kind that records what a confirmed import did

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, collect_failed_rows=False, **kwargs):
        result = self.get_result_class()()
        headers = [str(h or "").strip().lstrip("\ufeff").lower() for h in (dataset.headers or [])]
        result.diff_headers = list(headers)
        result.add_dataset_headers(headers)
        outcomes = {}
        with scratch_dir("upload-") as work:
            path = work / "upload.csv"
            with open(path, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(headers)
                for row in dataset:
                    writer.writerow(["" if v is None else _text(v) for v in row])
            try:
                report = self.import_service(
                    path=str(path),
                    name=kwargs.get("file_name") or "upload",
                    dry_run=dry_run,
                    on_row=lambda number, outcome: outcomes.__setitem__(number, outcome),
                    on_error=lambda error: None,
                    actor=kwargs.get("user"),
                )
            except (FileError, NoActiveProgram) as exc:
                result.append_base_error(Error(exc))
                return result
            if not dry_run:
                result.import_job = import_job_record(
                    kind=self.job_kind, name=kwargs.get("file_name") or "upload", report=report, actor=kwargs.get("user")
                )
        for index, values in enumerate(dataset.dict if headers else []):
            number = index + 2  # the header is row 1, as in a spreadsheet
            values = {str(k or "").strip().lstrip("\ufeff").lower(): ("" if v is None else _text(v)) for k, v in values.items()}
            outcome = outcomes.get(number)
            if isinstance(outcome, Rejection) or outcome is None:
                message = outcome.message if outcome else _("the row was rejected (see the rejected rows)")
                field = outcome.field if outcome and outcome.field in headers else "__all__"
                result.append_invalid_row(number, values, ValidationError({field: [message]}))
                result.totals[RowResult.IMPORT_TYPE_INVALID] += 1
                continue
            row = RowResult()
            row.import_type = OUTCOME_TYPES[outcome.outcome]
            row.diff = [values.get(h, "") for h in headers]
            row.object_repr = values.get(self.key_column, "")
            result.append_row_result(row)
            result.increment_row_result_total(row)
        return result


def _text(value) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class OrderImportResource(ServiceImportResource):
    """Orders: ``order_id,member_id,paid_at,status,goods_amount,…`` booked by the active program's rules."""

    import_service = staticmethod(orders_import_active)
    key_column = "order_id"
    job_kind = "orders"

    class Meta:
        model = Order
        fields = ORDER_COLUMNS
        import_id_fields = ("order_id",)
        name = gettext_lazy("Orders (booked by the program's rules)")


class MemberImportResource(ServiceImportResource):
    import_service = staticmethod(members_import)
    key_column = "member_id"
    job_kind = "members"

    class Meta:
        model = Member
        fields = MEMBER_COLUMNS
        import_id_fields = ("member_id",)
        name = gettext_lazy("Members")


class OrderExportResource(resources.ModelResource):
    member_id = fields.Field(attribute="member__member_id", column_name="member_id")

    class Meta:
        model = Order
        fields = ("order_id", "member_id", "paid_at", "status", "goods_amount", "discount_amount", "shipping_amount", "refunded_amount", "category", "shop_id", "revision")
        export_order = fields
        name = gettext_lazy("Orders")

    def get_queryset(self):
        return super().get_queryset().select_related("member")


class MemberExportResource(resources.ModelResource):
    level = fields.Field(column_name="level")
    growth_total = fields.Field(attribute="growth_total", column_name="growth_total")
    points_balance = fields.Field(column_name="points_balance")

    class Meta:
        model = Member
        fields = ("member_id", "name", "phone", "birthday", "joined_at", "status", "level", "level_valid_until", "growth_total", "points_balance")
        export_order = fields
        name = gettext_lazy("Members")

    def filter_export(self, queryset, **kwargs):
        """Lifetime growth and points as ``export_members`` has them, in the same query as the members."""
        return members_with_totals(queryset)

    def dehydrate_level(self, member) -> str:
        """The level the member holds under the active program, as ``export_members`` writes it."""
        if not hasattr(self, "_levels"):
            self._levels = {pk: level.code for pk, level in levels_shown().items()}
        return self._levels.get(member.level_id, self._levels[None])

    def dehydrate_points_balance(self, member) -> int:
        """Points available now, as ``export_members`` counts them."""
        return points_spendable(member.booked_points, member.lapsed_points)
