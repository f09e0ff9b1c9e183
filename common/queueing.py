"""Queueing Celery tasks from services.

A task is an interface over the services, as an admin page or a command is: it parses its
arguments and calls one service. So a service that hands work to the workers does not import the
task's module; it names the task, which is looked up in the Celery app's registry (each app
imports its ``tasks`` in ``ready``, so every task is registered in web processes too).
"""

from celery import current_app
from django.db import transaction


def task_send(name: str, *args, **kwargs) -> None:
    """Queue the task registered as ``name`` with these arguments now."""
    current_app.tasks[name].delay(*args, **kwargs)


def task_send_on_commit(name: str, *args, **kwargs) -> None:
    """Queue the task registered as ``name`` once the current transaction commits, so that it never
    runs before the rows it reads are visible (at once outside a transaction)."""
    transaction.on_commit(lambda: task_send(name, *args, **kwargs))
