import pytest
from django.test import Client

from api.services import api_key_create


class ApiClient(Client):
    """The test client speaking JSON with a key, as the platform's systems do."""

    def __init__(self, key: str | None = None, **defaults):
        if key:
            defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        super().__init__(**defaults)

    def call(self, method: str, path: str, body=None, **headers):
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        return getattr(self, method.lower())(f"/api/v1/{path}", body, content_type="application/json", **extra)


@pytest.fixture
def make_key(db):
    def make(scopes=("ingest", "read", "spend"), name=None, **options):
        api_key, key = api_key_create(name=name or f"system-{'-'.join(scopes)}", scopes=list(scopes), actor=None, **options)
        return api_key, key

    return make


@pytest.fixture
def api(make_key, program):
    """A client with a key of every scope, on the default program."""
    api_key, key = make_key()
    client = ApiClient(key)
    client.api_key = api_key
    return client
