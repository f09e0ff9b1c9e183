"""A member's data rights over the API (scope ``privacy``): everything held on them, and the
erasure of their personal data, as the console's member actions do."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from membership.services import member_data_erase, member_data_export

from ..serializers import ensure, iso
from .base import ApiView, problems


class ErasureInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, help_text="The request this erasure answers, e.g. its ticket number.")


class ErasureSerializer(serializers.Serializer):
    member_id = serializers.CharField()
    erased_at = serializers.DateTimeField()
    reason = serializers.CharField()
    rows_changed = serializers.DictField(child=serializers.IntegerField(), help_text="What was erased, per kind of data.")


class PersonalDataView(ApiView):
    required_scope = "privacy"

    @extend_schema(
        operation_id="member_personal_data", summary="Everything held on the member (the right of access)",
        responses={200: OpenApiTypes.OBJECT, **problems(404)},
    )
    def get(self, request, member_id):
        member = self.member(member_id)
        data = member_data_export(member=member, actor=request.user)
        return Response(json.loads(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)))


class ErasureView(ApiView):
    required_scope = "privacy"

    @extend_schema(
        operation_id="member_erasure", summary="Erase the member's personal data for good (the right to erasure); the ledgers stay",
        request=ErasureInSerializer, responses={201: ErasureSerializer, **problems(404, 422)},
    )
    def post(self, request, member_id):
        member = self.member(member_id)
        data = ensure(ErasureInSerializer, request.data)
        erasure = member_data_erase(member=member, actor=request.user, reason=data["reason"])
        body = {"member_id": member.member_id, "erased_at": iso(erasure.erased_at), "reason": erasure.reason, "rows_changed": erasure.rows_changed}
        return Response(ErasureSerializer(body).data, status=201)
