"""Rule parameters edited as typed form fields, one group per kind, instead of a JSON box.

A rule model keeps its parameters in a JSON field and names its strategy in ``kind``; each
strategy says what parameters it takes as form fields (``param_fields()``: name → field, with
label, help text and bounds). ``typed_params_form(model, strategies)`` makes the model form:
every kind's fields, prefixed with the kind; the admin shows the chosen kind's group only
(``templates/admin/typed_params.html``). On save the chosen kind's filled fields become the
parameters (an empty field is left out: the strategy's default), and the strategy's own
``validate_params`` (through the model's ``clean``) still decides what is allowed, its sentence
shown on the form.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

SEPARATOR = "__"


def param_field_name(kind: str, name: str) -> str:
    return f"{kind}{SEPARATOR}{name}"


def typed_params_form(model, strategies: dict, *, fields: tuple[str, ...], base=forms.ModelForm):
    """A model form of ``model`` (on ``base``) over ``fields`` (without ``params``), with the
    parameters of every strategy of ``strategies`` (kind → strategy class) as typed fields."""

    class Base(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.instance.pk:
                for name, value in (self.instance.params or {}).items():
                    key = param_field_name(self.instance.kind, name)
                    if key in self.fields:
                        self.fields[key].initial = value

        def add_error(self, field, error):
            """The strategy's refusal names the parameter in its sentence: it is said at the top
            of the form (the JSON field it was raised on is not on the form)."""
            if field is None and isinstance(error, ValidationError) and hasattr(error, "error_dict"):
                moved: dict = {}
                for name, errors in error.error_dict.items():
                    moved.setdefault(name if name in self.fields else NON_FIELD_ERRORS, []).extend(errors)
                error = ValidationError(moved)
            super().add_error(field, error)

        def clean(self):
            cleaned = super().clean()
            strategy = strategies.get(cleaned.get("kind"))
            if strategy is not None:
                params = {}
                for name in strategy.param_fields():
                    value = cleaned.get(param_field_name(strategy.kind, name))
                    if value not in (None, "", [], (), {}, False):  # empty or unticked: the strategy's default
                        params[name] = _json_value(value)
                self.instance.params = params
            return cleaned

    declared = {}
    for kind, strategy in strategies.items():
        for name, field in strategy.param_fields().items():
            field.required = False
            field.label = capfirst(field.label)
            declared[param_field_name(kind, name)] = field
    meta = type("Meta", (), {"model": model, "fields": (*fields, *declared)})
    return type(f"{model.__name__}ParamsForm", (Base,), {**declared, "Meta": meta})


def _json_value(value):
    """A value as the JSON field keeps it: a decimal as a whole number or a float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def params_fieldsets(strategies: dict, labels: dict) -> list:
    """The admin fieldsets of the parameters: one per kind, named by the kind's label."""
    return [
        (
            _("Parameters: %(kind)s") % {"kind": labels.get(kind, kind)},
            {"fields": [param_field_name(kind, name) for name in strategy.param_fields()], "classes": ["typed-params", f"params-{kind}"]},
        )
        for kind, strategy in strategies.items()
        if strategy.param_fields()
    ]
