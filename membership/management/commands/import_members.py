from common.commands import ImportCommand
from membership.imports import members_import


class Command(ImportCommand):
    help = "Import members from CSV (member_id,name,phone,birthday,joined_at). Re-importing updates, never duplicates."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--batch-size", type=int, default=5000, help="members written per transaction (default 5000)")

    def handle(self, *args, path, encoding, dry_run, batch_size, **options):
        self.run_import(members_import, path=path, encoding=encoding, dry_run=dry_run, batch_size=batch_size)
