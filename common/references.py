"""References to configuration rows, checked once per transaction rather than once per row.

A settlement writes, for most members at once, rows that name a handful of configuration rows:
the member's new level, the level change's levels and run, the grant's benefit and run. A foreign
key checks each such row as it is written, by looking the referenced row up and share-locking it
again, which was a quarter of a settlement chunk's time (``benchmarks/settle.py``). Those columns
carry no foreign key; the same guarantee is kept in two halves:

- a writer calls ``references_hold`` once in its transaction for the configuration rows it names:
  they are locked as a foreign key's check locks them (``FOR KEY SHARE``: they can be edited,
  not deleted, until the transaction ends), and one that is gone is refused as a foreign key
  would refuse it;
- on PostgreSQL a trigger on each configuration table refuses, at commit, to delete a row that
  such a column still names (``refuse_delete_referenced``, the delete half of a foreign key;
  migrations ``membership 0035`` and ``benefits 0006``), and Django's ``PROTECT`` says so first.
"""

from django.db import IntegrityError, connection


def references_hold(model, pks) -> None:
    """Lock the rows ``pks`` of ``model`` against deletion until the transaction ends, and raise
    ``IntegrityError`` if one of them is gone (on SQLite, whose writer holds the whole database,
    they are only looked up)."""
    wanted = {pk for pk in pks if pk is not None}
    if not wanted:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT {column} FROM {table} WHERE {column} = ANY(%s) FOR KEY SHARE", [sorted(wanted)])
        else:
            cursor.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(wanted))})", sorted(wanted))
        found = {row[0] for row in cursor.fetchall()}
    if missing := wanted - found:
        raise IntegrityError(
            f"{model._meta.verbose_name} {', '.join(map(str, sorted(missing)))} was deleted while rows naming it were being written"
        )


# The delete half of a foreign key, for PostgreSQL: a constraint trigger made with
# ``references_guard_sql`` runs this for each deleted row, at commit, with (table, column) pairs.
GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_delete_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i integer := 0;
    named boolean;
BEGIN
    WHILE i < TG_NARGS LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[i], TG_ARGV[i + 1]) INTO named USING OLD.id;
        IF named THEN
            RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                MESSAGE = format('delete on table "%s" violates a reference from table "%s"', TG_TABLE_NAME, TG_ARGV[i]),
                DETAIL = format('Key (id)=(%s) is still named by %s.%s.', OLD.id, TG_ARGV[i], TG_ARGV[i + 1]);
        END IF;
        i := i + 2;
    END LOOP;
    RETURN NULL;
END $$
"""


def references_guard_sql(name: str, table: str, referrers: list[tuple[str, str]]) -> tuple[str, str]:
    """(make, drop) SQL of the trigger ``name`` refusing to delete a row of ``table`` that one of
    ``referrers`` ((table, column) pairs) still names."""
    args = ", ".join(f"'{t}', '{c}'" for t, c in referrers)
    make = (
        f"CREATE CONSTRAINT TRIGGER {name} AFTER DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW EXECUTE FUNCTION refuse_delete_referenced({args})"
    )
    return make, f"DROP TRIGGER IF EXISTS {name} ON {table}"


def references_guards(guards: list[tuple[str, str]], *, function: bool = False):
    """A migration's ``RunPython`` making (on PostgreSQL) the triggers of ``guards`` (from
    ``references_guard_sql``), and with ``function`` the function they run first."""
    from django.db import migrations

    def make(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            if function:
                schema_editor.execute(GUARD_FUNCTION, params=None)
            for sql, _drop in guards:
                schema_editor.execute(sql)

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for _make, sql in guards:
                schema_editor.execute(sql)

    return migrations.RunPython(make, drop)
