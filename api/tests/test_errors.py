"""Errors are problem documents with one sentence naming the field, in the request's language;
never HTML, never a traceback, whatever the input."""

import pytest

from api.tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

ORDER = {"member_id": "M1", "paid_at": "2026-03-01 10:00", "status": "completed", "goods_amount": "100"}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"] and body["detail"].endswith((".", "。"))
    return body


@pytest.fixture
def member(api):
    assert api.call("PUT", "members/M1", {"name": "会员"}).status_code == 201


@pytest.mark.parametrize("change, field, words", [
    ({"goods_amount": "abc"}, "goods_amount", "valid number"),
    ({"goods_amount": 1e30}, "goods_amount", "digits"),
    ({"goods_amount": "99999999999999.99"}, "goods_amount", "digits"),
    ({"goods_amount": "-1"}, "goods_amount", "greater than or equal to 0"),
    ({"goods_amount": "1.234"}, "goods_amount", "2 decimal places"),
    ({"paid_at": "yesterday"}, "paid_at", "format"),
    ({"paid_at": "0001-01-01T00:00:00"}, "paid_at", "1970"),
    ({"status": "shipped"}, "status", "unknown status 'shipped'"),
    ({"member_id": "x" * 65}, "member_id", "64"),
    ({"category": ["a"]}, "category", "valid string"),
    ({"special_invoice": "maybe"}, "special_invoice", "valid boolean"),
])
def test_a_field_of_the_wrong_type_or_range_is_named(api, member, change, field, words):
    body = problem(api.call("PUT", "orders/O1", {**ORDER, **change}), 400)
    assert body["detail"].startswith(f"{field}: ") and words in " ".join(body["errors"][field])


def test_missing_fields_are_each_named(api, member):
    body = problem(api.call("PUT", "orders/O1", {"member_id": "M1"}), 400)
    assert set(body["errors"]) == {"paid_at", "status", "goods_amount"}


def test_facts_the_rules_cannot_book_are_422_naming_the_field(api, member):
    body = problem(api.call("PUT", "orders/O1", {**ORDER, "member_id": "NOBODY"}), 422)
    assert body["errors"] == {"member_id": ["unknown member 'NOBODY'"]}
    body = problem(api.call("PUT", "orders/O1", {**ORDER, "refunded_amount": "200"}), 422)
    assert body["detail"] == "refunded_amount: refunded_amount 200.00 is larger than what was paid (100.00)."
    body = problem(api.call("PUT", "orders/O1", {**ORDER, "offset_amount": "100.01"}), 422)
    assert body["detail"] == "offset_amount: offset_amount 100.01 is larger than what was paid (100.00)."


@pytest.mark.parametrize("body, content_type, status", [
    ("{not json", "application/json", 400),
    ('{"goods_amount": NaN}', "application/json", 400),
    ('{"goods_amount": Infinity}', "application/json", 400),
    ("[1, 2]", "application/json", 400),
    ("member_id=M1", "application/x-www-form-urlencoded", 415),
    ("<order/>", "text/xml", 415),
])
def test_a_body_that_is_not_a_json_object_is_refused(api, member, body, content_type, status):
    response = api.put("/api/v1/orders/O1", body, content_type=content_type)
    problem(response, status)


def test_a_body_over_the_limit_is_413(api, member, settings):
    settings.API_MAX_BODY_BYTES = 1000
    problem(api.call("POST", "orders/batch", {"orders": [{**ORDER, "order_id": f"O{n}"} for n in range(50)]}), 413)


def test_unknown_addresses_and_methods_are_problems_too(api):
    problem(api.call("GET", "nothing-here"), 404)
    problem(api.call("DELETE", "members/M1"), 405)
    problem(api.call("GET", "members/NOBODY"), 404)


def test_the_sentences_are_in_the_request_language(api, member):
    body = problem(api.call("PUT", "orders/O1", {**ORDER, "goods_amount": "abc"}, **{"Accept-Language": "zh-hans"}), 400)
    assert body["title"] == "请求无效" and body["detail"] == "goods_amount: 请填写合法的数字。"
    body = problem(ApiClient().call("GET", "members/M1", **{"Accept-Language": "zh-hans"}), 401)
    assert body["title"] == "未通过认证"


def test_a_service_refusal_reaches_the_api_in_the_request_s_language(api):
    assert api.call("PUT", "members/M1", {"name": "会员"}).status_code == 201
    order = {"member_id": "M1", "paid_at": "2026-03-01 10:00", "status": "completed", "goods_amount": "100", "refunded_amount": "200"}
    english = api.call("PUT", "orders/O1", order, **{"Accept-Language": "en"}).json()
    chinese = api.call("PUT", "orders/O1", order, **{"Accept-Language": "zh-hans"}).json()
    assert "is larger than what was paid" in english["detail"]
    assert "大于" in chinese["detail"] and "larger" not in chinese["detail"]
    unknown = api.call("PUT", "orders/O2", {**order, "member_id": "NOBODY", "refunded_amount": "0"}, **{"Accept-Language": "zh-hans"}).json()
    assert "未知会员" in unknown["detail"] and "NOBODY" in unknown["detail"]


def test_a_batch_of_more_than_a_thousand_orders_is_refused(api, member):
    body = problem(api.call("POST", "orders/batch", {"orders": [{**ORDER, "order_id": f"O{n}"} for n in range(1001)]}), 400)
    assert body["detail"].startswith("orders: ") and "1000" in body["detail"]


def test_a_phone_or_birthday_that_cannot_be_is_refused_naming_the_field(api):
    response = api.call("PUT", "members/U9", {"name": "张三", "phone": "abc-not-a-phone"})
    assert response.status_code == 422, response.content
    assert "phone" in response.content.decode() and "is not a phone number" in response.content.decode()
    response = api.call("PUT", "members/U9", {"birthday": "2099-01-01"})
    assert response.status_code == 422 and "is not a birthday" in response.content.decode()
    assert api.call("GET", "members/U9").status_code == 404
