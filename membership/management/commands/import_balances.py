from common.commands import ImportCommand
from membership.imports import balances_import
from membership.selectors import NoActiveProgram, program_active_get


class Command(ImportCommand):
    help = (
        "Import opening balances from a previous system (member_id,points,earned_on,growth,growth_on): "
        "points as a lot earned on earned_on, growth dated growth_on, once per member."
    )

    expected_errors = ImportCommand.expected_errors + (NoActiveProgram,)

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--batch-size", type=int, default=5000, help="members booked per transaction (default 5000)")

    def handle(self, *args, path, dry_run, encoding, batch_size, **options):
        self.run_import(balances_import, path=path, program=program_active_get(), encoding=encoding, dry_run=dry_run, batch_size=batch_size)
