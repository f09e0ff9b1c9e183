"""Writing many new rows at once: ``COPY`` on PostgreSQL, multi-row inserts elsewhere.

``rows_insert`` gives every object its primary key, as ``save()`` would, so that rows written
later in the same transaction can point at them.
"""

from django.db import connection

INSERT_BATCH = 2000


def rows_insert(model, objects: list) -> None:
    if not objects:
        return
    if connection.vendor == "postgresql":
        _copy(model, objects)
    else:
        model.objects.bulk_create(objects, batch_size=INSERT_BATCH)


def _copy(model, objects: list) -> None:
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(objects)],
        )
        for obj, (next_id,) in zip(objects, cursor.fetchall()):
            setattr(obj, pk.attname, next_id)
            obj._state.adding = False
            obj._state.db = connection.alias
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row([f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields])


UPDATE_BATCH = 1000


def rows_update(model, objects: list, fields: list[str]) -> None:
    """Write ``fields`` of ``objects`` (saved rows) back in one statement per batch.

    An ``UPDATE … FROM (VALUES …)`` join: Django's ``bulk_update`` builds a ``CASE`` per field and
    row, which costs more to compile than to run for thousands of rows.
    """
    if not objects:
        return
    meta = model._meta
    pk = meta.pk
    targets = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    columns = [pk, *targets]
    if postgres:
        row = "(" + ", ".join(f"%s::{f.db_type(connection) if f is not pk else 'bigint'}" for f in columns) + ")"
        alias = "v(" + ", ".join(f"c{i}" for i in range(len(columns))) + ")"
        names = [f"c{i}" for i in range(len(columns))]
    else:
        row = "(" + ", ".join("%s" for _ in columns) + ")"
        alias = "v"
        names = [f"column{i + 1}" for i in range(len(columns))]
    assignments = ", ".join(f"{quote(f.column)} = v.{name}" for f, name in zip(targets, names[1:]))
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(objects), UPDATE_BATCH):
            batch = objects[start : start + UPDATE_BATCH]
            params = []
            for obj in batch:
                params.append(obj.pk)
                params.extend(f.get_db_prep_save(f.pre_save(obj, add=False), connection) for f in targets)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(batch))}) AS {alias} "
                f"WHERE {table}.{quote(pk.column)} = v.{names[0]}",
                params,
            )
