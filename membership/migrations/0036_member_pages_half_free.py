from django.db import migrations


def member_pages_room(apps, schema_editor, fillfactor=50):
    """Leave half of each member page free (PostgreSQL): a settlement can rewrite the level of
    every member of a page at once (the first settlement after an import, a program whose levels
    last until the next settlement), and a rewrite stays on its page and updates no index (a
    heap-only update) only while the page has room for the new version beside the old. Pages
    already written keep their fill until the table is rewritten (``VACUUM FULL``)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE membership_member SET (fillfactor = {fillfactor})")


def member_pages_fifth_free(apps, schema_editor):
    member_pages_room(apps, schema_editor, fillfactor=80)


class Migration(migrations.Migration):

    dependencies = [
        ("membership", "0035_config_references_checked_once"),
    ]

    operations = [migrations.RunPython(member_pages_room, member_pages_fifth_free)]
