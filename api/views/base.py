"""What every view of the API shares: the key's scope, the member in the path, problem documents
for errors, and idempotent spends (``Idempotency-Key``)."""

from __future__ import annotations

import hashlib
import json

from auditlog.context import set_actor
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from membership.models import Member

from ..problems import PROBLEM, Problem
from ..services import idempotent_run


class ProblemSerializer(serializers.Serializer):
    """An error (RFC 9457)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="One sentence naming the field at fault.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


PROBLEM_STATUSES = {
    400: "The request is malformed or a field has the wrong type, length or range.",
    401: "No key, or an unknown or revoked key.",
    403: "The key does not have the scope this request needs.",
    404: "The member, or what the path names, is not known.",
    405: "The method is not allowed here.",
    406: "The request does not accept JSON.",
    409: "Refused by the program's rules (not enough points, out of stock, a limit reached, blacklisted), or an idempotency key used for another request.",
    413: "The request body is too large.",
    415: "The body is not JSON.",
    422: "The facts cannot be booked (an unknown member, a refund larger than what was paid…).",
    429: "Too many requests for this key: wait for Retry-After seconds.",
}


def problems(*codes: int) -> dict:
    """The error responses of an endpoint, for the schema (with those every endpoint may give)."""
    every = (400, 401, 403, 405, 406, 413, 415, 429)
    return {(code, PROBLEM): OpenApiResponse(ProblemSerializer, description=PROBLEM_STATUSES[code]) for code in sorted({*every, *codes})}


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
    description="A key of yours for this request (1 to 100 printable characters): the same key and body replay the first answer, another body is refused (409).",
)


class ApiView(APIView):
    """A view of the API. ``required_scope`` is the scope its requests need (a dict per method if
    they differ); ``service_error_status`` is the status of a service's refusal (422 for facts that
    cannot be booked, 409 for a spend the rules refuse)."""

    required_scope: str | dict = "read"
    service_error_status = 422

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # What the request changes is recorded in the audit log as done by the key's user.
        self._audit = set_actor(request.user)
        self._audit.__enter__()

    def member(self, member_id: str) -> Member:
        member = Member.objects.filter(member_id=member_id).first()
        if member is None:
            raise Problem(404, _("there is no member %(member)s") % {"member": member_id}, {"member_id": [_("unknown member")]})
        return member

    def finalize_response(self, request, response, *args, **kwargs):
        audit = getattr(self, "_audit", None)
        if audit is not None:
            audit.__exit__(None, None, None)
            self._audit = None
        return super().finalize_response(request, response, *args, **kwargs)


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        raise Problem(400, _("the Idempotency-Key header is required for this request"), {"Idempotency-Key": [_("required")]})
    if len(key) > 100 or not key.isprintable() or not key.isascii():
        raise Problem(
            400, _("the Idempotency-Key header must be 1 to 100 printable ASCII characters"), {"Idempotency-Key": [_("1 to 100 printable ASCII characters")]}
        )
    return key


def idempotently(request, run) -> Response:
    """Answer ``run()`` (a status and a body) once per Idempotency-Key of the request's key."""
    key = idempotency_key(request)
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()
    status, data, replayed = idempotent_run(api_key=request.auth, idempotency_key=key, request_digest=digest, run=run)
    response = Response(data, status=status)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def service_key(request, idempotency: str) -> str:
    """The key a spend is booked under in the services: unique to the API key and its
    Idempotency-Key, and at most 100 characters (the shortest of the services' reference columns)."""
    key = f"api:{request.auth.pk}:{idempotency}"
    return key if len(key) <= 100 else f"api:{request.auth.pk}:#{hashlib.sha256(idempotency.encode()).hexdigest()}"
