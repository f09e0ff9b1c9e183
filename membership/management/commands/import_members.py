from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from common.commands import ContractCommand, error_field, validation_text
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
        rejected, seen, valid = [], {}, []

        def reject(row, field, message):
            error = f"{path}: row {row.number}, column {field}: {message}"
            self.stderr.write(error)
            rejected.append((row.raw, error))
            counts["rejected"] += 1

        # Read and check the whole file first, so a file that breaks off midway writes nothing.
        for row in read_rows(path, required=("member_id",), known=COLUMNS, encoding=encoding):
            counts["read"] += 1
            v = row.values
            try:
                member_id = v.get("member_id", "")
                if not member_id:
                    raise FieldError("member_id", "member_id is required")
                if len(member_id) > 64:
                    raise FieldError("member_id", f"member_id {member_id[:20]!r}… is longer than 64 characters")
                if member_id in seen:
                    raise FieldError("member_id", f"member {member_id} already appears in row {seen[member_id]}")
                seen[member_id] = row.number
                valid.append(
                    (
                        row,
                        dict(
                            member_id=member_id,
                            name=v.get("name") or None,
                            phone=v.get("phone") or None,
                            birthday=parse_day(v.get("birthday", ""), "birthday"),
                            joined_at=parse_when(v.get("joined_at", ""), "joined_at"),
                        ),
                    )
                )
            except FieldError as exc:
                reject(row, exc.field, exc.message)
        for row, fields in valid:
            if dry_run:
                continue
            try:
                _, outcome = member_upsert(**fields)
            except ValidationError as exc:
                reject(row, error_field(exc), validation_text(exc))
                continue
            counts[outcome] += 1
        if rejected and not dry_run:
            out = write_rejected(path, read_header(path, encoding), rejected, encoding)
            self.stderr.write(f"rejected rows written to {out}")
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.stdout.write(f"dry run, nothing written: {summary}" if dry_run else summary)
        if counts["rejected"]:
            raise CommandError(f"{counts['rejected']} row(s) of {path} rejected")
