from common.commands import ImportCommand
from membership.imports import ImportWorkerError, orders_import
from membership.selectors import NoActiveProgram, program_active_get


class Command(ImportCommand):
    help = "Import orders from CSV and book their growth and points under the active program, idempotently."
    expected_errors = ImportCommand.expected_errors + (NoActiveProgram, ImportWorkerError)

    def add_arguments(self, parser):
        self.add_import_arguments(parser, rows="orders")
        parser.add_argument("--no-points", action="store_true", help="credit growth only (the legacy system paid the points)")

    def handle(self, *args, no_points, **options):
        self.run_import(orders_import, options, program=program_active_get(), book_points=not no_points)
