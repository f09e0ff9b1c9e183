"""Writing many rows at once: ``COPY`` on PostgreSQL, ``executemany`` on SQLite.

``rows_insert`` gives every object its primary key, as ``save()`` would, so that rows written
later in the same transaction can point at them.
"""

import operator

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import NOT_PROVIDED
from django.db.models.base import ModelState
from django.utils import timezone

INSERT_BATCH = 5000
# Types that the database driver takes as they are; the others go through the field's
# ``get_db_prep_save`` (on SQLite, dates, times and decimals are stored as text).
PLAIN = {
    "postgresql": {
        "AutoField", "BigAutoField", "IntegerField", "BigIntegerField", "PositiveIntegerField", "SmallIntegerField",
        "PositiveSmallIntegerField", "PositiveBigIntegerField", "CharField", "TextField", "SlugField", "DecimalField",
        "DateTimeField", "DateField", "BooleanField", "ForeignKey", "OneToOneField",
    },
    "sqlite": {
        "AutoField", "BigAutoField", "IntegerField", "BigIntegerField", "PositiveIntegerField", "SmallIntegerField",
        "PositiveSmallIntegerField", "PositiveBigIntegerField", "CharField", "TextField", "SlugField", "BooleanField",
        "ForeignKey", "OneToOneField",
    },
}


def rows_insert(model, objects: list) -> None:
    """Insert new ``objects`` (their primary keys unset), giving each its primary key.

    The keys are taken first (``nextval`` of the sequence on PostgreSQL; the next rowids on SQLite,
    whose single writer holds the database for the transaction), then the rows are written with
    COPY or one ``executemany``: no per-row work in Django or the database driver.
    """
    if not objects:
        return
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the ``connection`` proxy costs a lookup per use
    if db.vendor not in PLAIN:
        model.objects.bulk_create(objects, batch_size=INSERT_BATCH)
        return
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f.db_default is NOT_PROVIDED]  # the database computes the others
    now = timezone.now()
    plain = PLAIN[db.vendor]
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            for obj in objects:
                if not getattr(obj, f.attname):
                    setattr(obj, f.attname, now)
    if len(fields) > 1 and all(f.get_internal_type() in plain for f in fields):
        # One C-level call per row for the whole row (a tuple, for two fields or more).
        values = operator.attrgetter(*(f.attname for f in fields))
    else:
        getters = [
            operator.attrgetter(f.attname) if f.get_internal_type() in plain else (lambda obj, f=f: f.get_db_prep_save(getattr(obj, f.attname), db))
            for f in fields
        ]

        def values(obj):
            return [get(obj) for get in getters]
    table, quote = meta.db_table, db.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            ids = keys_take(cursor, table, pk.column, len(objects))
        else:
            # Writing first takes SQLite's write lock, so no one else can take these rowids.
            cursor.execute(f"UPDATE {quote(table)} SET {quote(pk.column)} = {quote(pk.column)} WHERE 0")
            cursor.execute(
                f"SELECT MAX(COALESCE((SELECT MAX({quote(pk.column)}) FROM {quote(table)}), 0), "
                f"COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
                [table],
            )
            first = cursor.fetchone()[0] + 1
            ids = range(first, first + len(objects))
        for obj, next_id in zip(objects, ids):
            setattr(obj, pk.attname, next_id)
            obj._state.adding = False
            obj._state.db = db.alias
        if db.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
                for obj in objects:
                    copy.write_row(values(obj))
        else:
            sql = f"INSERT INTO {quote(table)} ({columns}) VALUES ({', '.join('?' * len(fields))})"
            for start in range(0, len(objects), INSERT_BATCH):
                cursor.cursor.executemany(sql, [values(obj) for obj in objects[start : start + INSERT_BATCH]])


def keys_take(cursor, table: str, column: str, count: int):
    """``count`` new values of the sequence behind ``table.column``, in increasing order, as one
    range when no other session took values meanwhile (sending each value back costs more than
    taking it); otherwise the values themselves. The sequence is looked up once (a subquery), not
    for every value, which cost eight times the values themselves."""
    cursor.execute(
        "SELECT MIN(v), MAX(v), CASE WHEN MAX(v) - MIN(v) + 1 = COUNT(*) THEN NULL ELSE array_agg(v ORDER BY v) END "
        "FROM (SELECT nextval((SELECT pg_get_serial_sequence(%s, %s)::regclass)) AS v FROM generate_series(1, %s)) AS taken",
        [table, column, count],
    )
    first, last, values = cursor.fetchone()
    return range(first, last + 1) if values is None else values


UPDATE_BATCH = 1000


def rows_update(model, objects: list, fields: list[str]) -> None:
    """Write ``fields`` of ``objects`` (saved rows, or any objects with ``pk`` and the fields'
    attribute names) back, in a few statements.

    On PostgreSQL one ``UPDATE … FROM unnest(arrays)`` per 50,000 rows (a handful of parameters,
    whatever the row count); elsewhere ``UPDATE … FROM (VALUES …)`` per 1,000 rows. Django's
    ``bulk_update`` builds a ``CASE`` per field and row, which costs more to build than to run.
    """
    if not objects:
        return
    db = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    pk = meta.pk
    targets = [meta.get_field(name) for name in fields]
    quote = db.ops.quote_name
    table = quote(meta.db_table)
    now = timezone.now()

    def value(obj, f):
        if getattr(f, "auto_now", False):
            setattr(obj, f.attname, now)
            return now
        return getattr(obj, f.attname)

    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            names = [f"c{i}" for i in range(len(targets) + 1)]
            arrays = ", ".join(f"%s::{'bigint' if f is pk else f.db_type(db)}[]" for f in [pk, *targets])
            assignments = ", ".join(f"{quote(f.column)} = v.{name}" for f, name in zip(targets, names[1:]))
            plain = PLAIN["postgresql"]
            for start in range(0, len(objects), 50_000):
                batch = objects[start : start + 50_000]
                columns = [[obj.pk for obj in batch]]
                for f in targets:
                    values = [value(obj, f) for obj in batch]
                    if f.get_internal_type() not in plain:
                        values = [f.get_db_prep_save(v, db) for v in values]
                    columns.append(values)
                cursor.execute(
                    f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "
                    f"WHERE {table}.{quote(pk.column)} = v.c0",
                    columns,
                )
            return
        row = "(" + ", ".join("%s" for _ in range(len(targets) + 1)) + ")"
        names = [f"column{i + 1}" for i in range(len(targets) + 1)]
        assignments = ", ".join(f"{quote(f.column)} = v.{name}" for f, name in zip(targets, names[1:]))
        for start in range(0, len(objects), UPDATE_BATCH):
            batch = objects[start : start + UPDATE_BATCH]
            params = []
            for obj in batch:
                params.append(obj.pk)
                params.extend(f.get_db_prep_save(value(obj, f), db) for f in targets)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(batch))}) AS v "
                f"WHERE {table}.{quote(pk.column)} = v.{names[0]}",
                params,
            )


_DEFAULTS: dict = {}


def new_row(model, /, **values):
    """A new, unsaved ``model`` instance with ``values`` given by attribute name (``member_id``,
    not ``member``); related objects already in memory go in ``related``.

    The same object ``model(**values)`` makes, without the per-field work of ``Model.__init__``,
    which dominates when a batch makes hundreds of thousands of rows.
    """
    related = values.pop("related", None)
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        fields = model._meta.concrete_fields
        made = [f for f in fields if f.has_default() and callable(f.default)]
        defaults = _DEFAULTS[model] = ({f.attname: f.get_default() for f in fields if f not in made}, [(f.attname, f.get_default) for f in made])
    constants, makers = defaults
    obj = model.__new__(model)
    obj._state = ModelState()
    row = obj.__dict__
    row.update(constants)
    for attname, make in makers:
        if attname not in values:
            row[attname] = make()
    row.update(values)
    if related:
        obj._state.fields_cache.update(related)
    return obj


ANALYZE_AFTER = 10_000  # rows written by one bulk operation


def tables_analyze(models: list, *, written: int) -> None:
    """After a bulk operation wrote ``written`` rows (at least ``ANALYZE_AFTER``) into the tables of
    ``models``, update PostgreSQL's statistics of them at once, rather than when autovacuum gets to
    them: the next settlement's plans then know the tables' new sizes (a settlement after a big
    import otherwise slows chunk by chunk on plans made for the tables as they were)."""
    if written < ANALYZE_AFTER or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
