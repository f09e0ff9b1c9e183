"""Import and export of the benefit catalog (django-import-export): one row per benefit, the
program and the level named by their codes; rows are matched by program and benefit code."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets

from membership.models import Level, Program

from .models import Benefit


class LevelCodeWidget(widgets.ForeignKeyWidget):
    """A level named by its code within the row's program."""

    def __init__(self):
        super().__init__(Level, field="code")

    def clean(self, value, row=None, **kwargs):
        if not value:
            raise ValueError(_("min_level is required"))
        program = Program.objects.filter(code=(row or {}).get("program")).first()
        level = Level.objects.filter(program=program, code=str(value).strip()).first()
        if level is None:
            raise ValueError(_("program %(program)s has no level %(level)s") % {"program": repr((row or {}).get("program")), "level": repr(value)})
        return level


class BenefitResource(resources.ModelResource):
    program = fields.Field(attribute="program", column_name="program", widget=widgets.ForeignKeyWidget(Program, field="code"))
    min_level = fields.Field(attribute="min_level", column_name="min_level", widget=LevelCodeWidget())

    class Meta:
        model = Benefit
        import_id_fields = ("program", "code")
        fields = (
            "program", "code", "name", "name_en", "kind", "description", "min_level", "trigger", "claim_limit",
            "points", "validity_days", "stock", "starts_at", "ends_at", "is_active",
        )
        export_order = fields
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def before_save_instance(self, instance, row, **kwargs):
        if instance.min_level_id and instance.program_id and instance.min_level.program_id != instance.program_id:
            raise ValidationError({"min_level": _("the level must belong to the benefit's program")})
