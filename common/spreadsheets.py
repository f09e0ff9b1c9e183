"""Files that people open in a spreadsheet: every cell that a spreadsheet would read as a formula
is written as text instead.

A text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, WPS and LibreOffice (``=HYPERLINK(...)``, ``@SUM(A1)``, ``=cmd|'/C calc'!A0``): a member
name or an order id from an upload could run one on the computer of whoever opens an export. Such
a cell gets a leading apostrophe, which the spreadsheet shows as text. Numbers stay numbers: a
cell that is a number (an int or a Decimal, or text that is only a number such as ``-500``) is
left alone. Every file the product writes goes through ``cell_safe``: the admin's exports (CSV
and XLSX), ``export_members``, the rejected-rows files.
"""

from __future__ import annotations

import re

from import_export.formats import base_formats

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def cell_safe(value):
    """``value`` as a cell no spreadsheet runs: text that would start a formula, with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.match(value):
        return f"'{value}"
    return value


def row_safe(values) -> list:
    return [cell_safe(value) for value in values]


def dataset_safe(dataset) -> None:
    """Neutralise every cell of a tablib dataset, in place."""
    rows = [row_safe(row) for row in dataset]
    headers = dataset.headers
    dataset.wipe()
    dataset.headers = headers
    for row in rows:
        dataset.append(row)


class SafeCSV(base_formats.CSV):
    def export_data(self, dataset, **kwargs):
        dataset_safe(dataset)
        return super().export_data(dataset, **kwargs)


class SafeXLSX(base_formats.XLSX):
    def export_data(self, dataset, **kwargs):
        dataset_safe(dataset)
        return super().export_data(dataset, **kwargs)


# The formats of every export of the console.
EXPORT_FORMATS = [SafeCSV, SafeXLSX]

# The admin exports the cells of the binary formats it lists as native types (numbers as numbers,
# dates as dates); the Excel format here is one of them.
base_formats.BINARY_FORMATS.append(SafeXLSX)
