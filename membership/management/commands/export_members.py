import csv
import os
from pathlib import Path

from django.utils.translation import gettext as _

from common.commands import ContractCommand
from common.csvio import FileError
from common.spreadsheets import cell_safe
from membership.selectors import NoActiveProgram, member_export_rows

COLUMNS = ["member_id", "level", "level_valid_until", "growth_total", "points_balance"]


class Command(ContractCommand):
    help = "Write member_id,level,level_valid_until,growth_total,points_balance for every member to PATH."
    expected_errors = ContractCommand.expected_errors + (NoActiveProgram,)

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        target = Path(path)
        if not target.parent.exists():
            raise FileError(_("%(path)s: the folder %(folder)s does not exist") % {"path": path, "folder": target.parent})
        tmp = target.with_name(f".{target.name}.partial")
        count = 0
        # Write to a temporary file and rename, so a failed export never leaves half a file.
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=COLUMNS)
                writer.writeheader()
                for row in member_export_rows():
                    writer.writerow({key: cell_safe(value) for key, value in row.items()})
                    count += 1
            os.replace(tmp, target)
        except OSError as exc:
            raise FileError(_("%(path)s: cannot be written (%(reason)s)") % {"path": path, "reason": exc.strerror}) from None
        finally:
            if tmp.exists():
                tmp.unlink()
        self.stdout.write(f"exported {count} members to {path}")
