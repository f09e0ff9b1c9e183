"""Transactions for postings that run inside their caller's transaction."""

import functools

from django.db import transaction


def in_transaction(function):
    """Run ``function`` in the caller's transaction, or in a transaction of its own when the
    caller has none.

    Unlike a nested ``transaction.atomic``, this sends no savepoint: a function that checks before
    it writes (enough points? the key already booked?) can refuse with the caller's transaction
    still usable, and marks the part that writes with ``transaction.atomic(savepoint=False)``, so
    an error there leaves the whole transaction to be rolled back and half a posting is never kept.
    """

    @functools.wraps(function)
    def run(*args, **kwargs):
        if transaction.get_connection().in_atomic_block:
            return function(*args, **kwargs)
        with transaction.atomic():
            return function(*args, **kwargs)

    return run
