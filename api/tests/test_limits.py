"""A key's rate limit: beyond its requests a minute, 429 with Retry-After."""

import pytest

from api.tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_a_key_over_its_rate_is_told_when_to_come_back(make_key, program):
    _, key = make_key(scopes=("read",), name="chatty", rate_per_minute=3)
    _, other = make_key(scopes=("read",), name="quiet", rate_per_minute=3)
    client = ApiClient(key)
    assert [client.call("GET", "members/M1").status_code for _ in range(3)] == [404, 404, 404]
    refused = client.call("GET", "members/M1")
    assert refused.status_code == 429 and refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 61 and refused.json()["title"] == "Too many requests"
    assert ApiClient(other).call("GET", "members/M1").status_code == 404  # each key counts its own


def test_the_default_rate_comes_from_the_settings(make_key, program, settings):
    settings.API_RATE_PER_MINUTE = 2
    _, key = make_key(scopes=("read",), name="default-rate")
    client = ApiClient(key)
    assert [client.call("GET", "members/M1").status_code for _ in range(3)] == [404, 404, 429]
