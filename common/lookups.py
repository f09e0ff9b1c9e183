"""``field__any=values``: membership in a long list of values, as one parameter.

Django's ``__in`` sends one parameter per value, and preparing and quoting several thousand of
them costs more than the query. On PostgreSQL ``__any`` sends the values as one array
(``field = ANY(%s::type[])``), with no per-value work; elsewhere it is ``__in``. The values must
be what the column holds (primary keys, not model instances).
"""

from django.db.models import Field, ForeignObject
from django.db.models.lookups import In


@ForeignObject.register_lookup
@Field.register_lookup
class AnyOf(In):
    lookup_name = "any"

    def get_prep_lookup(self):
        return [value for value in self.rhs if value is not None]

    def as_postgresql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        # The type without its length: a cast to varchar(64)[] would cut longer values to fit.
        kind = self.lhs.output_field.db_type(connection).split("(")[0]
        return f"{lhs} = ANY(%s::{kind}[])", (*params, self.rhs)
