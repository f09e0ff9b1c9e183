"""Importing the contract's files (members, orders, opening balances) for the commands, the
admin and the import jobs:

- ``reading``: the columns and the parsing of each row; what differs between the imports;
- ``staging``: the rows of an import in temporary SQLite files;
- ``processes``: booking the staged rows in several processes;
- ``files``: reading, staging and booking a file (``import_file``) and the three imports;
- ``jobs``: uploads run by a Celery worker.
"""

from .files import balances_import, import_file, members_import, orders_import
from .jobs import import_job_create, import_job_record, import_job_run
from .processes import ImportWorkerError
from .reading import MEMBER_COLUMNS, ORDER_COLUMNS, ImportKind, ImportReport, order_parse

__all__ = [
    "ImportKind",
    "ImportReport",
    "ImportWorkerError",
    "MEMBER_COLUMNS",
    "ORDER_COLUMNS",
    "balances_import",
    "import_file",
    "import_job_create",
    "import_job_record",
    "import_job_run",
    "members_import",
    "order_parse",
    "orders_import",
]
