"""Reading and writing the contract's CSV files: UTF-8 (with or without BOM) or GB18030, CRLF or LF."""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from .spreadsheets import row_safe


class FileError(Exception):
    """A problem with the file as a whole (missing, unreadable, wrong header)."""


def row_error(file: str, row: int, column: str, reason: str) -> str:
    """The sentence of a rejected row: the file, the row, the column at fault and why."""
    return _("%(file)s: row %(row)s, column %(column)s: %(reason)s") % {"file": file, "row": row, "column": column, "reason": reason}


class FieldError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


ENCODINGS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "gb18030": "gb18030", "gbk": "gb18030", "gb2312": "gb18030"}


def encoding_name(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise FileError(_("unknown encoding %(name)s (use utf-8 or gb18030)") % {"name": repr(name)}) from None
    return ENCODINGS.get(name.lower(), name)


@dataclass
class Row:
    number: int  # the row's line in a spreadsheet: the header is row 1
    values: dict[str, str]
    raw: list[str]


def read_rows(path: str | Path, *, required: tuple[str, ...], known: tuple[str, ...], encoding: str = "utf-8"):
    """Yield ``Row``s of a CSV file, checking its header first. Raises ``FileError`` naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileError(_("%(path)s: no such file") % {"path": path})
    codec = encoding_name(encoding)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise FileError(_("%(path)s: cannot be opened (%(reason)s)") % {"path": path, "reason": exc.strerror}) from None
    with handle:
        reader = csv.reader(_decoded_lines(handle, path, codec, encoding), strict=True)
        header = next(reader, None)
        if not header:
            raise FileError(_("%(path)s: the file is empty; expected a header row with %(columns)s") % {"path": path, "columns": ", ".join(required)})
        columns = [h.strip().lstrip("\ufeff").lower() for h in header]
        missing = [c for c in required if c not in columns]
        if missing:
            message = (
                _("%(path)s: row 1: missing required columns %(columns)s") if len(missing) > 1
                else _("%(path)s: row 1: missing required column %(columns)s")
            )
            raise FileError(message % {"path": path, "columns": ", ".join(missing)})
        dupes = {c for c in columns if c and columns.count(c) > 1}
        if dupes:
            raise FileError(_("%(path)s: row 1: column %(columns)s appears more than once") % {"path": path, "columns": ", ".join(sorted(dupes))})
        wanted = [(i, c) for i, c in enumerate(columns) if c in known]
        width = max((i for i, _ in wanted), default=-1) + 1
        number = 1
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    raise FileError(
                        _("%(path)s: row %(row)s: a quoted value opened in this row is never closed (a \" is missing), so every row after it would be read into that one value: close the quote and import the file again")
                        % {"path": path, "row": number + 1}
                    ) from None
                raise FileError(_("%(path)s: row %(row)s: the CSV is malformed here (%(error)s)") % {"path": path, "row": number + 1, "error": exc}) from None
            number += 1
            if not any(cell.strip() for cell in raw):
                continue
            if len(raw) >= width:
                values = {c: raw[i].strip() for i, c in wanted}
            else:
                values = {c: (raw[i].strip() if i < len(raw) else "") for i, c in wanted}
            yield Row(number, values, raw)


def _decoded_lines(handle, path, codec: str, encoding: str):
    """Decode line by line, so an undecodable byte is reported with the line it is on."""
    for number, raw in enumerate(handle, 1):
        if number == 1 and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise FileError(
                _("%(path)s: the file is UTF-16 text (what Excel's \"Unicode text\" writes), not CSV in UTF-8 or GB18030: save it from Excel as \"CSV UTF-8 (comma delimited)\" and import that")
                % {"path": path}
            )
        if b"\x00" in raw:
            raise FileError(
                _("%(path)s: row %(row)s: this is not a text file (it holds NUL bytes); save it from Excel as CSV") % {"path": path, "row": number}
            )
        try:
            yield raw.decode(codec if number == 1 else codec.replace("utf-8-sig", "utf-8"))
        except UnicodeDecodeError:
            message = (
                _("%(path)s: row %(row)s: the text is not valid %(encoding)s; for Excel files in Chinese try --encoding gb18030")
                if codec != "gb18030"
                else _("%(path)s: row %(row)s: the text is not valid %(encoding)s")
            )
            raise FileError(message % {"path": path, "row": number, "encoding": encoding}) from None


def write_rejected(path: str | Path, header: list[str], rejected: list[tuple[list[str], str]], encoding: str = "utf-8") -> Path:
    """Write rejected rows with an ``error`` column to ``PATH.rejected.csv`` (same encoding as the input)."""
    out = Path(f"{path}.rejected.csv")
    enc = "utf-8-sig" if encoding_name(encoding) == "utf-8-sig" else encoding_name(encoding)
    with open(out, "w", newline="", encoding=enc) as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "error"])
        for raw, error in rejected:
            writer.writerow(row_safe([*raw[: len(header)], *[""] * (len(header) - len(raw)), error]))
    return out


def read_header(path: str | Path, encoding: str = "utf-8") -> list[str]:
    with open(path, newline="", encoding=encoding_name(encoding)) as handle:
        return [h.strip().lstrip("\ufeff") for h in next(csv.reader(handle), [])]


AMOUNT = re.compile(r"^-?[0-9]+(\.[0-9]{1,2})?$")
WHOLE = re.compile(r"^[0-9]+$")
YEARS = (1900, 2999)  # the dates a file may hold: any later or earlier one is a typing mistake


def parse_amount(value: str, field: str, *, required: bool = False) -> Decimal:
    """An amount of yuan: digits with up to 2 decimals (thousands separators allowed), 0 or more."""
    value = (value or "").replace(",", "").strip()
    if not value:
        if required:
            raise FieldError(field, _("%(field)s is required") % {"field": field})
        return Decimal("0")
    if not AMOUNT.match(value):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise FieldError(field, _("%(field)s %(value)s is not an amount in yuan") % {"field": field, "value": repr(value)}) from None
        if not number.is_finite():
            raise FieldError(field, _("%(field)s %(value)s is not a number: give an amount in yuan, such as 128.50") % {"field": field, "value": repr(value)})
        if "e" in value.lower():
            raise FieldError(
                field, _("%(field)s %(value)s is written with an exponent: write the amount in digits, such as 128.50") % {"field": field, "value": repr(value)}
            )
        if re.fullmatch(r"[+-]?[0-9]+\.[0-9]{3,}", value):
            raise FieldError(field, _("%(field)s %(value)s has more than 2 decimals") % {"field": field, "value": repr(value)})
        raise FieldError(field, _("%(field)s %(value)s is not an amount in yuan") % {"field": field, "value": repr(value)})
    amount = Decimal(value)
    if amount < 0:
        raise FieldError(field, _("%(field)s %(value)s is negative") % {"field": field, "value": value})
    return amount


def parse_whole(value: str, field: str, *, maximum: int, negative: bool = False) -> int | None:
    """A whole number in digits 0-9 (thousands separators allowed), up to ``maximum`` (and down
    to ``-maximum`` if ``negative``); None if empty."""
    text = (value or "").replace(",", "").strip()
    if not text:
        return None
    digits = text[1:] if negative and text[:1] in "+-" else text
    if not WHOLE.match(digits):
        message = _("%(field)s %(value)s is not a whole number") if negative else _("%(field)s %(value)s is not a whole number of 0 or more")
        raise FieldError(field, message % {"field": field, "value": repr(value)})
    number = int(text)
    if abs(number) > maximum:
        raise FieldError(field, _("%(field)s %(number)s is too large: at most %(maximum)s") % {"field": field, "number": f"{number:,}", "maximum": f"{maximum:,}"})
    return number


FLAGS = {"": False, "0": False, "false": False, "no": False, "n": False, "否": False,
         "1": True, "true": True, "yes": True, "y": True, "是": True}


def parse_flag(value: str, field: str) -> bool:
    """A yes/no column: empty, 0, false, no, 否 are no; 1, true, yes, 是 are yes."""
    text = (value or "").strip().lower()
    if text not in FLAGS:
        raise FieldError(field, _("%(field)s %(value)s is not yes or no (use 1 or 0)") % {"field": field, "value": repr(value)})
    return FLAGS[text]


def parse_when(value: str, field: str, *, required: bool = False) -> datetime | None:
    """ISO 8601 date or date-time; naive values are local time (TIME_ZONE)."""
    value = (value or "").strip()
    if not value:
        if required:
            raise FieldError(field, _("%(field)s is required") % {"field": field})
        return None
    try:
        parsed = parse_datetime(value.replace("/", "-"))
        if parsed is None:
            day = parse_date(value.replace("/", "-"))
            parsed = datetime.combine(day, time.min) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise FieldError(
            field, _("%(field)s %(value)s is not an ISO 8601 date or time (e.g. 2026-11-22 10:30:00)") % {"field": field, "value": repr(value)}
        )
    _in_years(parsed, value, field)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def parse_day(value: str, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = parse_date(value.replace("/", "-"))
    except ValueError:
        parsed = None
    if parsed is None:
        raise FieldError(field, _("%(field)s %(value)s is not an ISO 8601 date (e.g. 1990-05-17)") % {"field": field, "value": repr(value)})
    _in_years(parsed, value, field)
    return parsed


def _in_years(parsed: date, value: str, field: str) -> None:
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise FieldError(
            field, _("%(field)s %(value)s is outside the years %(first)s to %(last)s") % {"field": field, "value": value, "first": YEARS[0], "last": YEARS[1]}
        )


def detect_encoding(path: str | Path) -> str:
    """``utf-8`` if the whole file decodes as UTF-8 (with or without BOM), else ``gb18030``
    (what Excel in Chinese saves as "CSV")."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


def xlsx_to_csv(source: str | Path, target: str | Path) -> None:
    """Write the first sheet of an Excel workbook as a UTF-8 CSV file, row by row."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for files that are not workbooks
        raise FileError(_("%(name)s: not an Excel workbook (%(error)s)") % {"name": Path(source).name, "error": exc.__class__.__name__}) from None
    try:
        sheet = workbook.worksheets[0]
        with open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for row in sheet.iter_rows(values_only=True):
                writer.writerow(["" if v is None else _cell_text(v) for v in row])
    finally:
        workbook.close()


def _cell_text(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
