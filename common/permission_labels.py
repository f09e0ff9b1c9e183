"""Permissions and roles named in the console's language.

Django stores a permission's name in English when the database is migrated ("Can add member");
the console shows it from the model's translated name instead, and the custom permissions and the
roles (``roles.ROLES``) by their translations (their names are marked for translation where they
are defined).
"""

from django.utils.translation import gettext, gettext_lazy

DEFAULT_ACTIONS = {
    "add": gettext_lazy("Can add %(model)s"),
    "change": gettext_lazy("Can change %(model)s"),
    "delete": gettext_lazy("Can delete %(model)s"),
    "view": gettext_lazy("Can view %(model)s"),
}


def permission_label(permission) -> str:
    """``app | model | permission`` as Django shows a permission, each part translated."""
    model = permission.content_type.model_class()
    if model is None:
        return str(permission)
    opts = model._meta
    action, _sep, rest = permission.codename.partition("_")
    if action in DEFAULT_ACTIONS and rest == opts.model_name and permission.name == f"Can {action} {opts.verbose_name_raw}":
        name = DEFAULT_ACTIONS[action] % {"model": opts.verbose_name}
    else:
        name = gettext(permission.name)
    return f"{opts.app_config.verbose_name} | {opts.verbose_name} | {name}"


def group_label(group) -> str:
    """A role's name in the console's language (other groups as they are named)."""
    return gettext(group.name)


class TranslatedPermissionsMixin:
    """For the user and group admins: permissions and groups listed in the console's language."""

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "user_permissions":
            kwargs["queryset"] = kwargs.get("queryset", db_field.remote_field.model.objects).select_related("content_type")
        field = super().formfield_for_manytomany(db_field, request=request, **kwargs)
        if db_field.name in ("permissions", "user_permissions"):
            field.label_from_instance = permission_label
        elif db_field.name == "groups":
            field.label_from_instance = group_label
        return field
