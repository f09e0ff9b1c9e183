"""``Authorization: Bearer KEY``: the key's user acts for the request."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .selectors import api_key_get
from .services import api_key_used


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("the Authorization header must read: Bearer KEY"))
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("the API key is unknown or revoked")) from None
        api_key = api_key_get(key=key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("the API key is unknown or revoked"))
        api_key_used(api_key=api_key)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
