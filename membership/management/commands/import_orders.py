from common.commands import ImportCommand
from membership.imports import orders_import
from membership.selectors import NoActiveProgram, program_active_get


class Command(ImportCommand):
    help = "Import orders from CSV and book their growth and points under the active program, idempotently."
    expected_errors = ImportCommand.expected_errors + (NoActiveProgram,)

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--no-points", action="store_true", help="credit growth only (the legacy system paid the points)")
        parser.add_argument("--encoding", default="utf-8", help="utf-8 (default, with or without BOM) or gb18030")
        parser.add_argument("--batch-size", type=int, default=5000, help="orders booked per transaction (default 5000)")

    def handle(self, *args, path, dry_run, no_points, encoding, batch_size, **options):
        program = program_active_get()
        self.run_import(
            orders_import,
            path=path,
            program=program,
            encoding=encoding,
            dry_run=dry_run,
            book_points=not no_points,
            batch_size=batch_size,
        )
