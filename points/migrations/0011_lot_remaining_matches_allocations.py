"""PostgreSQL checks, at each commit, that a points lot keeps what it was earned with less what
its allocations took (``points_reconcile`` checks the same on any database)."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        """
        CREATE OR REPLACE FUNCTION points_lot_check() RETURNS trigger AS $$
        DECLARE
            lot bigint;
            bad record;
        BEGIN
            IF TG_TABLE_NAME = 'points_pointslot' THEN
                lot := NEW.id;
            ELSE
                lot := NEW.lot_id;
            END IF;
            SELECT l.id, l.amount, l.remaining, COALESCE(SUM(a.amount), 0) AS taken INTO bad
            FROM points_pointslot l LEFT JOIN points_pointsallocation a ON a.lot_id = l.id
            WHERE l.id = lot GROUP BY l.id
            HAVING l.remaining <> l.amount + COALESCE(SUM(a.amount), 0);
            IF FOUND THEN
                RAISE EXCEPTION 'points lot % keeps % of %, but its allocations leave %', bad.id, bad.remaining, bad.amount, bad.amount + bad.taken
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql;
        CREATE CONSTRAINT TRIGGER points_lot_remaining_matches AFTER INSERT OR UPDATE OF remaining, amount ON points_pointslot
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION points_lot_check();
        CREATE CONSTRAINT TRIGGER points_allocation_matches_lot AFTER INSERT ON points_pointsallocation
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION points_lot_check();
        """,
        params=None,
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        """
        DROP TRIGGER IF EXISTS points_lot_remaining_matches ON points_pointslot;
        DROP TRIGGER IF EXISTS points_allocation_matches_lot ON points_pointsallocation;
        DROP FUNCTION IF EXISTS points_lot_check();
        """
    )


class Migration(migrations.Migration):
    dependencies = [("points", "0010_ledger_sign_agrees_with_kind")]
    operations = [migrations.RunPython(forwards, backwards)]
