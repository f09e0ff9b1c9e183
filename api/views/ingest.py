"""Members, orders and behaviour events in (scope ``ingest``), and the member as the API shows them."""

from __future__ import annotations

import hashlib

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from membership.rules import OrderFacts
from membership.selectors import program_active_get
from membership.services import BookingResult, event_record, member_upsert, order_book, orders_book_batch

from ..problems import errors_flatten, validation_problem
from ..selectors import member_view_get
from ..serializers import (
    BatchOrderSerializer,
    BookingOutSerializer,
    EventInSerializer,
    MemberInSerializer,
    MemberOutSerializer,
    OrderBatchInSerializer,
    OrderBatchOutSerializer,
    OrderInSerializer,
    ensure,
)
from .base import ApiView, problems

ID_LIMIT = 64


def _path_id(value: str, name: str) -> str:
    if len(value) > ID_LIMIT:
        raise validation_problem({name: [_("at most %(n)s characters") % {"n": ID_LIMIT}]})
    return value


def _booking(result: BookingResult) -> dict:
    return {"outcome": result.outcome, "growth": result.growth, "points": result.points}


def _facts(order_id: str, data: dict) -> OrderFacts:
    return OrderFacts(order_id=order_id, **data)


class MemberView(ApiView):
    required_scope = {"GET": "read", "PUT": "ingest"}

    @extend_schema(operation_id="member_get", summary="A member: level, validity, growth, forecast, points", responses={200: MemberOutSerializer, **problems(404)})
    def get(self, request, member_id):
        member = self.member(_path_id(member_id, "member_id"))
        return Response(MemberOutSerializer(member_view_get(member=member)).data)

    @extend_schema(
        operation_id="member_put", summary="Create or update a member (as import_members would)", request=MemberInSerializer,
        responses={200: MemberOutSerializer, 201: MemberOutSerializer, **problems(422)},
    )
    def put(self, request, member_id):
        fields = ensure(MemberInSerializer, request.data)
        member, outcome = member_upsert(member_id=_path_id(member_id, "member_id"), **fields)
        return Response(MemberOutSerializer(member_view_get(member=member)).data, status=201 if outcome == "created" else 200)


class OrderView(ApiView):
    required_scope = "ingest"

    @extend_schema(
        operation_id="order_put", summary="Book an order, or a change to it (as importing that row would)", request=OrderInSerializer,
        responses={200: BookingOutSerializer, 201: BookingOutSerializer, **problems(422)},
    )
    def put(self, request, order_id):
        data = ensure(OrderInSerializer, request.data)
        result = order_book(facts=_facts(_path_id(order_id, "order_id"), data), program=program_active_get(), actor=request.user)
        return Response(_booking(result), status=201 if result.outcome == "created" else 200)


class OrderBatchView(ApiView):
    required_scope = "ingest"

    @extend_schema(
        operation_id="orders_batch", summary="Book up to 1,000 orders, each as PUT /orders/{order_id} would, in the order given",
        request=OrderBatchInSerializer, responses={200: OrderBatchOutSerializer, **problems()},
    )
    def post(self, request):
        orders = ensure(OrderBatchInSerializer, request.data)["orders"]
        results: list[dict | None] = [None] * len(orders)
        valid: list[tuple[int, OrderFacts]] = []
        check = BatchOrderSerializer()  # one serializer checks every order (a new one a row costs a copy of its fields)
        for index, raw in enumerate(orders):
            try:
                data = dict(check.run_validation(raw))
            except serializers.ValidationError as exc:
                problem = validation_problem(errors_flatten(exc.detail))
                results[index] = {"order_id": str(raw.get("order_id", "")), "error": str(problem.detail), "errors": problem.errors}
                continue
            valid.append((index, _facts(data.pop("order_id"), data)))
        program = program_active_get()
        # Each booking sees the ones before it: an order given twice is booked again after its
        # first time, in a batch of its own.
        while valid:
            seen, batch, rest = set(), [], []
            for index, facts in valid:
                (rest if facts.order_id in seen or rest else batch).append((index, facts))
                seen.add(facts.order_id)
            booked = orders_book_batch(facts=[facts for _, facts in batch], program=program, actor=request.user)
            for (index, facts), outcome in zip(batch, booked.outcomes):
                if isinstance(outcome, BookingResult):
                    results[index] = {"order_id": facts.order_id, **_booking(outcome)}
                else:
                    problem = validation_problem({outcome.field: [outcome.message]})
                    results[index] = {"order_id": facts.order_id, "error": str(problem.detail), "errors": problem.errors}
            valid = rest
        return Response({"results": results})


class MemberEventView(ApiView):
    required_scope = "ingest"

    @extend_schema(
        operation_id="member_event", summary="Record a behaviour (check-in, review…) and book what the event rules give, once per type and reference",
        request=EventInSerializer, responses={200: BookingOutSerializer, 201: BookingOutSerializer, **problems(404, 422)},
    )
    def post(self, request, member_id):
        member = self.member(_path_id(member_id, "member_id"))
        data = ensure(EventInSerializer, request.data)
        reference = f"{data['type']}:{data['reference']}"
        event_id = f"{member.pk}:{reference}"
        if len(event_id) > 100:
            event_id = f"{member.pk}:#{hashlib.sha256(reference.encode()).hexdigest()}"
        result = event_record(
            member_id=member.member_id, event_type=data["type"], occurred_at=data["occurred_at"], event_id=event_id,
            program=program_active_get(), actor=request.user,
        )
        return Response(_booking(result), status=201 if result.outcome == "created" else 200)
