from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from common.commands import ContractCommand, validation_text
from common.csvio import FieldError, parse_day, parse_when, read_header, read_rows, write_rejected
from membership.services import member_upsert

COLUMNS = ("member_id", "name", "phone", "birthday", "joined_at")


class Command(ContractCommand):
    help = "Import members from CSV (member_id,name,phone,birthday,joined_at). Re-importing updates, never duplicates."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")

    def handle(self, *args, path, encoding, dry_run, **options):
        counts = {"read": 0, "created": 0, "changed": 0, "unchanged": 0, "rejected": 0}
        rejected, seen = [], {}
        for row in read_rows(path, required=("member_id",), known=COLUMNS, encoding=encoding):
            counts["read"] += 1
            v = row.values
            try:
                member_id = v.get("member_id", "")
                if not member_id:
                    raise FieldError("member_id", "member_id is required")
                if member_id in seen:
                    raise FieldError("member_id", f"member {member_id} already appears in row {seen[member_id]}")
                seen[member_id] = row.number
                fields = dict(
                    member_id=member_id,
                    name=v.get("name") or None,
                    phone=v.get("phone") or None,
                    birthday=parse_day(v.get("birthday", ""), "birthday"),
                    joined_at=parse_when(v.get("joined_at", ""), "joined_at"),
                )
                if dry_run:
                    counts["unchanged"] += 1
                    continue
                _, outcome = member_upsert(**fields)
                counts[outcome] += 1
            except (FieldError, ValidationError) as exc:
                message = exc.message if isinstance(exc, FieldError) else validation_text(exc)
                field = exc.field if isinstance(exc, FieldError) else ", ".join(getattr(exc, "message_dict", {}) or ["member_id"])
                error = f"{path}: row {row.number}, column {field}: {message}"
                self.stderr.write(error)
                rejected.append((row.raw, error))
                counts["rejected"] += 1
        if rejected and not dry_run:
            out = write_rejected(path, read_header(path, encoding), rejected, encoding)
            self.stderr.write(f"rejected rows written to {out}")
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        if dry_run:
            summary = f"dry run, nothing written: {summary}"
        if counts["rejected"]:
            self.stdout.write(summary)
            raise CommandError(f"{counts['rejected']} row(s) of {path} rejected")
        self.stdout.write(summary)
