"""Scopes: a view names the scope its requests need (``required_scope``), per method if they differ."""

from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from .models import ApiKey


class ScopeRequired(BasePermission):
    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return False
        scope = view.required_scope
        if isinstance(scope, dict):
            scope = scope.get("GET" if request.method in ("HEAD", "OPTIONS") else request.method)
        if scope is None or scope in request.auth.scopes:  # None: a method the view refuses (405)
            return True
        self.message = _("this key does not have the scope %(scope)s that this request needs") % {"scope": scope}
        return False
