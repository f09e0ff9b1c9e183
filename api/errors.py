"""Errors as RFC 9457 problem details (``application/problem+json``), never HTML or a traceback.

Every error the API answers has ``type``, ``title``, ``status`` and ``detail`` (one plain sentence
that names the field at fault), and, for invalid input, ``errors`` ({field: [sentences]}).
Sentences are in the request's language (``Accept-Language``: en or zh-hans).

- invalid input: 400 (the request's shape: types, missing fields, malformed JSON), 422 (facts the
  services refuse to book, such as a refund larger than what was paid or an unknown member);
- a refusal by the program's rules (not enough points, out of stock, a limit reached,
  blacklisted), or an idempotency key used for another request: 409;
- 401 without a known key, 403 without the scope, 404, 405, 413, 415, 429 with ``Retry-After``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mall.services import MallRefused
from membership.selectors import NoActiveProgram
from points.services import InsufficientPoints

from .problems import PROBLEM, Problem, errors_flatten, errors_sentence, problem_body, service_errors
from .services import IdempotencyConflict


def api_exception_handler(exc, context):
    """DRF's exception handler, answering every error with a problem document."""
    view = context.get("view")
    if isinstance(exc, (MallRefused, InsufficientPoints)):
        exc = Problem(409, errors_sentence(service_errors(exc)), None)
    elif isinstance(exc, IdempotencyConflict):
        exc = Problem(409, _("the Idempotency-Key was used before for a different request: use a new key for a new request"), {"Idempotency-Key": [_("used before for a different request")]})
    elif isinstance(exc, DjangoValidationError):
        errors = service_errors(exc)
        exc = Problem(getattr(view, "service_error_status", 422), errors_sentence(errors), errors)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = Problem(403, str(exc) or _("this key may not do that"))
    elif isinstance(exc, RequestDataTooBig):
        exc = Problem(413, _("the request body is larger than this API takes"))
    elif isinstance(exc, NoActiveProgram):
        exc = Problem(503, str(exc))
    elif isinstance(exc, Http404):
        exc = Problem(404, str(exc) if str(exc) else _("there is nothing at this address"))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Problem):
        body = problem_body(exc.status_code, str(exc.detail), exc.errors, exc.title)
    elif isinstance(exc, exceptions.ValidationError):
        errors = errors_flatten(exc.detail)
        body = problem_body(response.status_code, errors_sentence(errors) if errors else _("the request is not valid"), errors)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        text = str(detail) if not isinstance(detail, (dict, list)) else errors_sentence(errors_flatten(detail))
        body = problem_body(response.status_code, text if text.endswith(".") else f"{text}.")
    response.data = body
    response.content_type = PROBLEM
    return response


def problem_response(status_code: int, detail: str) -> JsonResponse:
    """A problem document outside DRF's views (unknown addresses, server errors)."""
    return JsonResponse(problem_body(status_code, detail), status=status_code, content_type=PROBLEM, json_dumps_params={"ensure_ascii": False})


def not_found(request, exception=None):
    return problem_response(status.HTTP_404_NOT_FOUND, _("there is nothing at %(path)s") % {"path": request.path})


def server_error(request):
    return problem_response(status.HTTP_500_INTERNAL_SERVER_ERROR, _("the server failed to answer; the request can be tried again"))
