"""Problem documents (RFC 9457): what the API answers with when it refuses a request (see ``errors``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework import exceptions

PROBLEM = "application/problem+json"

TITLES = {
    400: gettext_noop("Invalid request"),
    401: gettext_noop("Not authenticated"),
    403: gettext_noop("Not allowed"),
    404: gettext_noop("Not found"),
    405: gettext_noop("Method not allowed"),
    406: gettext_noop("Not acceptable"),
    409: gettext_noop("Refused"),
    413: gettext_noop("Request too large"),
    415: gettext_noop("Unsupported media type"),
    422: gettext_noop("Invalid input"),
    429: gettext_noop("Too many requests"),
    500: gettext_noop("Server error"),
    503: gettext_noop("Not ready"),
}


class Problem(exceptions.APIException):
    """An error the API answers with: ``status``, a ``detail`` sentence and, optionally, ``errors``."""

    def __init__(self, status_code: int, detail: str, errors: dict | None = None, title: str | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.errors = errors
        self.title = title


def _title(status_code: int) -> str:
    return _(TITLES.get(status_code, "Error"))


def problem_body(status_code: int, detail: str, errors: dict | None = None, title: str | None = None) -> dict:
    detail = detail if detail.endswith((".", "。")) else f"{detail}."
    body = {"type": "about:blank", "title": title or _title(status_code), "status": status_code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def errors_flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as {"field": [...], "orders[2].paid_at": [...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = key if key != "non_field_errors" else "__all__"
            flat.update(errors_flatten(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(errors, list) and errors and all(isinstance(e, (dict, list)) for e in errors):
        for index, value in enumerate(errors):
            flat.update(errors_flatten(value, f"{prefix}[{index}]"))
    else:
        items = errors if isinstance(errors, list) else [errors]
        flat[prefix or "__all__"] = [str(item) for item in items if str(item)]
    return {k: v for k, v in flat.items() if v}


def errors_sentence(errors: dict[str, list[str]]) -> str:
    field, messages = next(iter(errors.items()))
    message = messages[0].strip()
    message = message if message.endswith("。") else f"{message.rstrip('.')}."
    return message if field == "__all__" else f"{field}: {message}"


def validation_problem(errors: dict[str, list[str]], status_code: int = 400) -> Problem:
    return Problem(status_code, errors_sentence(errors), errors)


def service_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as {field: [sentences]} ("__all__" when it names no field)."""
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}
