"""Insert-only ledger rows.

A ledger row, once written, is never updated or deleted: corrections are new rows that point
to the row they correct. Python enforces this here (``save`` of an existing row, ``delete``,
queryset ``update``/``delete``/``bulk_update`` all raise); the database enforces it too, through
triggers created by each ledger's migration (see ``ledger_protection_sql``).
"""

from django.db import models


class LedgerImmutableError(Exception):
    """Raised on any attempt to change or remove a ledger row."""


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutableError(f"{self.model._meta.verbose_name} rows are insert-only and cannot be updated.")

    def delete(self):
        raise LedgerImmutableError(f"{self.model._meta.verbose_name} rows are insert-only and cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise LedgerImmutableError(f"{self.model._meta.verbose_name} rows are insert-only and cannot be updated.")

    _update = update


class LedgerModel(models.Model):
    objects = LedgerQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerImmutableError(f"{self._meta.verbose_name} rows are insert-only and cannot be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError(f"{self._meta.verbose_name} rows are insert-only and cannot be deleted.")


def ledger_protection_sql(table: str):
    """Forward/backward SQL for a migration that makes ``table`` insert-only in the database.

    PostgreSQL refuses UPDATE and DELETE with a row trigger (Django's test flush uses TRUNCATE,
    which row triggers do not see). The embedded SQLite database of the local console relies on
    the Python guards alone: its schema changes rebuild tables, which would drop a trigger.
    """
    from django.db import migrations

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
