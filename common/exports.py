"""Exports of long lists (the ledgers, level changes, redemptions, alerts, lists), streamed.

A list of a million rows is read from the database in chunks (``iterator``: a server-side cursor
on PostgreSQL) and written to the response as it is read, as CSV or as an Excel workbook, so that
the first bytes leave at once and memory stays flat whatever the length. Every text cell goes
through ``cell_safe`` (no formula runs when the file is opened).

The workbook is written here rather than by openpyxl, whose write-only mode still builds the
whole sheet in a temporary file before the first byte can be sent: an XLSX file is a zip of a few
XML parts, and the sheet's part is compressed as its rows arrive (``zipfile`` writes to a stream
that cannot seek). Texts are inline strings, numbers numbers, dates and times text in the
console's time zone (``YYYY-MM-DD HH:MM:SS``), as the CSV has them.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from xml.sax.saxutils import escape

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .spreadsheets import cell_safe

# An Excel sheet holds 1,048,576 rows: the header, the data, and a last line saying there is more.
XLSX_MAX_DATA_ROWS = 1_048_574
CHUNK_ROWS = 2_000
# Characters XML 1.0 cannot hold, even escaped: left out of a workbook's texts (a stray one in an
# uploaded name would make the whole file unreadable).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def export_columns_resolve(model, paths: Iterable[str]) -> list[tuple[str, str, dict | None]]:
    """(path, header, choice labels) of each column: the header is the verbose name of the path's
    first field (``member__member_id`` is the member), the labels those of the last field's choices."""
    columns = []
    for column in paths:
        names = column.split("__")
        first = model._meta.get_field(names[0])
        field, current = first, model
        for name in names:
            field = current._meta.get_field(name)
            current = field.related_model or current
        labels = {value: str(label) for value, label in field.flatchoices} if getattr(field, "choices", None) else None
        columns.append((column, str(first.verbose_name), labels))
    return columns


def export_rows(queryset, columns) -> Iterator[list]:
    """The queryset's rows as cells: choices by their labels, times local, texts made safe.

    Read in a transaction: outside one, PostgreSQL's cursor is declared WITH HOLD and its whole
    result is materialised when the declaring statement commits (seconds before the first row of
    a ledger of millions); inside one, rows come as the plan yields them."""
    labels = [labels for _path, _header, labels in columns]
    with transaction.atomic():
        for values in queryset.values_list(*(p for p, _h, _l in columns)).iterator(chunk_size=CHUNK_ROWS):
            yield [_cell(value, labels[i]) for i, value in enumerate(values)]


def _cell(value, labels):
    if value is None:
        return ""
    if labels is not None:
        return labels.get(value, value)
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(value) else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return cell_safe(value)


class _Sink:
    """A file that keeps what is written until it is taken: the zip writes into it, the response
    takes from it. It cannot seek, so the zip writes each part's sizes after the part."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def csv_stream(headers: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (Excel then reads Chinese right), a chunk of rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    yield "\ufeff".encode() + buffer.getvalue().encode()
    buffer.seek(0), buffer.truncate()
    for n, row in enumerate(rows, 1):
        writer.writerow(row)
        if n % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0), buffer.truncate()
    yield buffer.getvalue().encode()


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _xlsx_row(number: int, cells: list, style: str = "") -> str:
    out = [f'<row r="{number}">']
    for value in cells:
        if isinstance(value, bool):
            value = str(value)
        if isinstance(value, (int, float, Decimal)):
            out.append(f"<c{style}><v>{value}</v></c>")
        elif value != "":
            text = escape(_XML_FORBIDDEN.sub("", str(value))).replace("\r", "&#13;")
            out.append(f'<c t="inlineStr"{style}><is><t xml:space="preserve">{text}</t></is></c>')
        else:
            out.append("<c/>")
    out.append("</row>")
    return "".join(out)


def xlsx_stream(headers: list[str], rows: Iterable[list], *, sheet: str = "Sheet1") -> Iterator[bytes]:
    """An Excel workbook of one sheet, compressed and sent a chunk of rows at a time."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in ("[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels", "xl/styles.xml"):
            archive.writestr(name, _XLSX_PARTS[name])
        archive.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{escape(sheet[:31])}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        yield sink.take()
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            part.write(_xlsx_row(1, headers, ' s="1"').encode())
            number = 1
            chunk = []
            for number, row in enumerate(rows, 2):
                if number - 1 > XLSX_MAX_DATA_ROWS:
                    chunk.append(_xlsx_row(number, [_("The list has more rows than a sheet holds: export it as CSV for the rest.")]))
                    break
                chunk.append(_xlsx_row(number, row))
                if len(chunk) == CHUNK_ROWS:
                    part.write("".join(chunk).encode())
                    chunk = []
                    yield sink.take()
            part.write("".join(chunk).encode())
            part.write(b"</sheetData></worksheet>")
    yield sink.take()


FORMATS = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class StreamedExportMixin:
    """Download the list as it is filtered and searched, as CSV or XLSX, streamed. A model admin
    names the columns in ``export_columns`` (field paths, ``member__member_id``); the list page
    offers the downloads (``templates/admin/change_list.html``)."""

    export_columns: tuple[str, ...] = ()

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        view = self.admin_site.admin_view(self.download_view)
        return [path("download/<str:file_format>/", view, name="%s_%s_download" % info), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        info = self.model._meta.app_label, self.model._meta.model_name
        query = request.GET.urlencode()
        downloads = [
            (label, reverse("admin:%s_%s_download" % info, args=[name]) + (f"?{query}" if query else ""))
            for name, label in (("csv", gettext_lazy("Download CSV")), ("xlsx", gettext_lazy("Download Excel")))
        ]
        return super().changelist_view(request, {**(extra_context or {}), "downloads": downloads})

    def download_view(self, request, file_format):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if file_format not in FORMATS:
            raise Http404(_("%(format)s is not a download format: csv or xlsx.") % {"format": file_format})
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:  # as the list itself answers a filter it does not know
            info = self.model._meta.app_label, self.model._meta.model_name
            return HttpResponseRedirect(reverse("admin:%s_%s_changelist" % info) + "?e=1")
        queryset = changelist.queryset  # filtered, searched and ordered as the list
        columns = export_columns_resolve(self.model, self.export_columns)
        headers, rows = [header for _path, header, _labels in columns], export_rows(queryset, columns)
        if file_format == "csv":
            body = csv_stream(headers, rows)
        else:
            body = xlsx_stream(headers, rows, sheet=str(self.model._meta.verbose_name_plural))
        response = StreamingHttpResponse(body, content_type=FORMATS[file_format])
        filename = f"{self.model.__name__}-{timezone.localdate():%Y-%m-%d}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

