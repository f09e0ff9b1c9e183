"""Insert-only ledger rows, and the fields the growth and points ledgers share.

A ledger row, once written, is never updated or deleted: corrections are new rows that point
to the row they correct. Python enforces this here (``save`` of an existing row, ``delete``,
queryset ``update``/``delete``/``bulk_update`` all raise); the database enforces it too, through
triggers created by each ledger's migration (see ``ledger_protection_sql``).

``LedgerEntryBase`` holds what every entry of a member's currency carries (a kind, a signed
amount, what a cap withheld, the effective date and the booking time, the source, a unique
idempotency key, and who and why for manual entries); each ledger adds its member, the rule that
produced an entry and what an entry corrects, and takes its indexes from ``ledger_indexes``.
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class LedgerImmutableError(Exception):
    """Raised on any attempt to change or remove a ledger row."""


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutableError(gettext("%(model)s rows are insert-only and cannot be updated.") % {"model": self.model._meta.verbose_name})

    def delete(self):
        raise LedgerImmutableError(gettext("%(model)s rows are insert-only and cannot be deleted.") % {"model": self.model._meta.verbose_name})

    def bulk_update(self, objs, fields, batch_size=None):
        raise LedgerImmutableError(gettext("%(model)s rows are insert-only and cannot be updated.") % {"model": self.model._meta.verbose_name})

    _update = update


class LedgerModel(models.Model):
    objects = LedgerQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerImmutableError(gettext("%(model)s rows are insert-only and cannot be updated.") % {"model": self._meta.verbose_name})
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError(gettext("%(model)s rows are insert-only and cannot be deleted.") % {"model": self._meta.verbose_name})


class Source(models.TextChoices):
    """Where a ledger entry came from."""

    ORDER = "order", _("Order")
    EVENT = "event", _("Event")
    ADJUSTMENT = "adjustment", _("Manual adjustment")
    SETTLEMENT = "settlement", _("Settlement")
    OPENING = "opening", _("Opening balance")
    REDEMPTION = "redemption", _("Redemption")
    BENEFIT = "benefit", _("Benefit or gift")
    CASHBACK = "cashback", _("Paid membership cashback")
    OFFSET = "offset", _("Cash offset")
    LOTTERY = "lottery", _("Lottery draw")
    INVITATION = "invitation", _("Invitation reward")
    SUBSCRIPTION = "subscription", _("Paid membership")
    DAILY = "daily", _("Daily accrual or decay")


ENTRY_MAX = 2_147_483_647  # the largest amount one entry holds (its column is a 32-bit integer)


class LedgerEntryBase(LedgerModel):
    """Fields shared by the growth and points ledgers."""

    class Kind(models.TextChoices):
        CREDIT = "credit", _("Credit")
        REVERSAL = "reversal", _("Reversal")
        ADJUSTMENT = "adjustment", _("Adjustment")
        EXPIRY = "expiry", _("Expiry")
        SPEND = "spend", _("Spend")
        REFUND = "refund", _("Refund of a spend")
        OPENING = "opening", _("Opening balance")
        CLEARED = "cleared", _("Frozen points cleared")
        DECAY = "decay", _("Decay")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    amount = models.IntegerField(_("amount"))
    capped = models.PositiveIntegerField(_("capped"), default=0, help_text=_("Withheld by a cap, not credited."))
    effective_at = models.DateTimeField(_("effective at"))
    booked_at = models.DateTimeField(_("booked at"), auto_now_add=True)
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    source_ref = models.CharField(_("source reference"), max_length=100, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        abstract = True


# What each kind of entry does to a balance; an adjustment may do either.
ADDING = ("credit", "opening", "refund")
TAKING = ("reversal", "expiry", "spend", "cleared", "decay")


def ledger_indexes(prefix: str) -> tuple[list, list]:
    """The indexes and constraints of a ledger table, named with ``prefix``: (indexes, constraints).

    Every booking writes each of them, so there are only these (and the rule's foreign-key index):
    a member's entries by date, with the amount in the index so window sums read the index alone
    (PostgreSQL); entries by date; by source; the few corrections and manual entries (partial
    indexes); the idempotency key (unique, without a pattern index); and the sign each kind of
    entry must have (a check of the row alone).
    """
    indexes = [
        models.Index(fields=["member", "effective_at"], include=["amount"], name=f"{prefix}_member_effective_idx"),
        models.Index(fields=["effective_at"], name=f"{prefix}_effective_idx"),
        models.Index(fields=["source", "source_ref"], name=f"{prefix}_source_idx"),
        models.Index(fields=["corrects"], condition=Q(corrects__isnull=False), name=f"{prefix}_corrects_idx"),
        models.Index(fields=["created_by"], condition=Q(created_by__isnull=False), name=f"{prefix}_created_by_idx"),
    ]
    K = LedgerEntryBase.Kind
    signs = models.CheckConstraint(
        condition=Q(kind__in=ADDING, amount__gte=0) | Q(kind__in=TAKING, amount__lte=0) | Q(kind=K.ADJUSTMENT),
        name=f"{prefix}_sign_agrees_with_kind",
        violation_error_message=_("An entry's sign must agree with its kind: credits, openings and refunds add, reversals, spends, expiry, decay and clearing take away."),
    )
    return indexes, [models.UniqueConstraint(fields=["idempotency_key"], name=f"{prefix}_idempotency_key_unique"), signs]


def ledger_protection_sql(table: str):
    """Forward/backward SQL for a migration that makes ``table`` insert-only in the database.

    PostgreSQL refuses UPDATE and DELETE with a row trigger (Django's test flush uses TRUNCATE,
    which row triggers do not see). The embedded SQLite database of the local console relies on
    the Python guards alone: its schema changes rebuild tables, which would drop a trigger.
    """
    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                """
                CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION 'ledger table % is insert-only: % refused', TG_TABLE_NAME, TG_OP
                        USING ERRCODE = 'restrict_violation';
                END;
                $$ LANGUAGE plpgsql;
                """,
                params=None,
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_insert_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();"
            )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_insert_only ON {table};")

    return migrations.RunPython(forwards, backwards)
