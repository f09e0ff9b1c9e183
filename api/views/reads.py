"""A member's ledgers, benefits, subscriptions, invite code and mall (scope ``read``), and the
event feed of the product's decisions."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from benefits.selectors import member_grants
from mall.selectors import mall_items_available
from membership.selectors import BadCursor as FeedCursorError
from membership.selectors import outbox_cursor_parse, outbox_event_body, outbox_events_after, program_active_get
from subscriptions.models import Subscription
from invitations.services import invite_code_get_or_create

from ..event_schemas import EVENT_SERIALIZERS, VERSION, event_json_schema
from ..problems import validation_problem
from ..selectors import BadCursor, ledger_page
from ..serializers import (
    CatalogItemSerializer,
    EventTypesSerializer,
    FeedPageSerializer,
    GrantSerializer,
    InviteCodeSerializer,
    LedgerEntrySerializer,
    LedgerPageSerializer,
    SubscriptionSerializer,
)
from .base import ApiView, problems


class PageQuery(serializers.Serializer):
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)


class FeedQuery(serializers.Serializer):
    after = serializers.CharField(required=False, allow_blank=True, max_length=60)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    type = serializers.CharField(required=False, max_length=50)
    member_id = serializers.CharField(required=False, max_length=64)


def _query(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    if not serializer.is_valid():
        raise validation_problem(serializer.errors)
    return serializer.validated_data


PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The ``next`` of the page before; none for the newest entries."),
    OpenApiParameter("limit", int, description="Entries a page, 1 to 200 (50)."),
]


class LedgerView(ApiView):
    """A member's entries in one ledger, newest first, cursor-paged."""

    required_scope = "read"
    related = ""

    def get(self, request, member_id):
        member = self.member(member_id)
        query = _query(PageQuery, request)
        try:
            page, following = ledger_page(entries=getattr(member, self.related).all(), cursor=query.get("cursor"), limit=query["limit"])
        except BadCursor:
            raise validation_problem({"cursor": [_("not a cursor of this ledger: pass the next of a page, or nothing")]}) from None
        return Response({"results": LedgerEntrySerializer(page, many=True).data, "next": following})


class GrowthEntriesView(LedgerView):
    related = "growth_entries"

    @extend_schema(operation_id="member_growth_entries", summary="The member's growth ledger, newest first", parameters=PAGE_PARAMETERS, responses={200: LedgerPageSerializer, **problems(404)})
    def get(self, request, member_id):
        return super().get(request, member_id)


class PointsEntriesView(LedgerView):
    related = "points_entries"

    @extend_schema(operation_id="member_points_entries", summary="The member's points ledger, newest first", parameters=PAGE_PARAMETERS, responses={200: LedgerPageSerializer, **problems(404)})
    def get(self, request, member_id):
        return super().get(request, member_id)


class BenefitGrantsView(ApiView):
    required_scope = "read"

    @extend_schema(operation_id="member_benefit_grants", summary="The member's benefit grants, newest first (the latest 100)", responses={200: GrantSerializer(many=True), **problems(404)})
    def get(self, request, member_id):
        member = self.member(member_id)
        return Response(GrantSerializer(member_grants(member=member, limit=100), many=True).data)


class InviteCodeView(ApiView):
    required_scope = "read"

    @extend_schema(operation_id="member_invite_code", summary="The member's invite code and link (made the first time)", responses={200: InviteCodeSerializer, **problems(404)})
    def get(self, request, member_id):
        member = self.member(member_id)
        return Response(InviteCodeSerializer(invite_code_get_or_create(member=member)).data)


class MallItemsView(ApiView):
    required_scope = "read"

    @extend_schema(operation_id="member_mall_items", summary="The mall items on offer to the member, at the price of their level", responses={200: CatalogItemSerializer(many=True), **problems(404)})
    def get(self, request, member_id):
        member = self.member(member_id)
        items = mall_items_available(member=member, program=program_active_get())
        return Response(
            CatalogItemSerializer(
                [
                    {"item": item.code, "name": item.name, "kind": item.kind, "points": points, "stock": item.stock,
                     "limit_per_member": item.limit_per_member, "limit_period": item.limit_period}
                    for item, points in items
                ],
                many=True,
            ).data
        )


class FeedView(ApiView):
    required_scope = "read"

    @extend_schema(
        operation_id="events", summary="The product's outbound events, in the order they were committed",
        parameters=[
            OpenApiParameter("after", str, description="The ``next`` of the page before; none to start from the first event."),
            OpenApiParameter("limit", int, description="Events a page, 1 to 1,000 (100)."),
            OpenApiParameter("type", str, description="Only events of this type (member.level_changed…)."),
            OpenApiParameter("member_id", str, description="Only the events of this member."),
        ],
        responses={200: FeedPageSerializer, **problems()},
    )
    def get(self, request):
        query = _query(FeedQuery, request)
        try:
            cursor = outbox_cursor_parse(query.get("after"))
        except FeedCursorError:
            raise validation_problem({"after": [_("not a cursor of the feed: pass the next of a page, or nothing to start")]}) from None
        types = [query["type"]] if query.get("type") else None
        events, following = outbox_events_after(cursor=cursor, limit=query["limit"], types=types, member_ref=query.get("member_id"))
        return Response(
            {
                "events": [outbox_event_body(e) for e in events],
                "next": following,
            }
        )


class EventTypesView(ApiView):
    required_scope = "read"

    @extend_schema(
        operation_id="event_types", summary="Each event type with its JSON Schema (a webhook's body, a feed event)",
        responses={200: EventTypesSerializer, **problems()},
    )
    def get(self, request):
        return Response({"types": [{"type": t, "version": VERSION, "schema": event_json_schema(t)} for t in EVENT_SERIALIZERS]})


class SubscriptionListMixin:
    def subscriptions(self, member):
        return SubscriptionSerializer(Subscription.objects.filter(member=member).select_related("plan").order_by("-starts_on", "-pk"), many=True).data
