"""Spending on a member's behalf (scope ``spend``): redemptions, cash offset, lottery draws, benefit
claims, paid membership, invitations. Every POST needs an ``Idempotency-Key``; a refusal by the
rules is 409 and keeps nothing, so the same key may be tried again."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from benefits.models import Benefit
from benefits.services import benefit_claim
from invitations.services import invitation_accept
from mall.models import CashOffset, Lottery, MallItem, Redemption
from mall.selectors import offset_quote
from mall.services import lottery_draw, offset_apply, offset_reverse, redemption_cancel, redemption_create
from membership.selectors import program_active_get
from subscriptions.models import Plan, Subscription
from subscriptions.services import subscription_cancel, subscription_extend_with_points, subscription_renew, subscription_start

from ..problems import Problem, validation_problem
from ..serializers import (
    ClaimInSerializer,
    DrawInSerializer,
    DrawSerializer,
    GrantSerializer,
    InvitationInSerializer,
    InvitationSerializer,
    OffsetInSerializer,
    OffsetQuoteInSerializer,
    OffsetQuoteSerializer,
    OffsetSerializer,
    ReasonInSerializer,
    RedemptionInSerializer,
    RedemptionSerializer,
    RenewInSerializer,
    SubscriptionSerializer,
    SubscriptionStartInSerializer,
    ensure,
)
from .base import IDEMPOTENCY_HEADER, ApiView, idempotency_key, idempotently, problems, service_key
from .reads import SubscriptionListMixin


class SpendView(ApiView):
    required_scope = "spend"
    service_error_status = 409

    def of_program(self, model, code: str, field: str):
        """The row of ``model`` with ``code`` in the active program, or a 422 naming ``field``."""
        row = model.objects.filter(program=program_active_get(), code=code).first()
        if row is None:
            raise validation_problem({field: [_("unknown %(field)s %(code)r") % {"field": field, "code": code}]}, status_code=422)
        return row

    def of_member(self, model, member, pk: int, what: str):
        row = model.objects.filter(member=member, pk=pk).first()
        if row is None:
            raise Problem(404, _("member %(member)s has no %(what)s #%(pk)s") % {"member": member.member_id, "what": what, "pk": pk})
        return row


SPEND = {"parameters": [IDEMPOTENCY_HEADER]}


class RedemptionsView(SpendView):
    @extend_schema(
        operation_id="redemption_create", summary="Redeem a mall item at the price of the member's level", request=RedemptionInSerializer,
        responses={201: RedemptionSerializer, 200: RedemptionSerializer, **problems(404, 409, 422)}, **SPEND,
    )
    def post(self, request, member_id):
        member = self.member(member_id)
        data = ensure(RedemptionInSerializer, request.data)
        item = self.of_program(MallItem, data["item"], "item")
        key = service_key(request, idempotency_key(request))

        def run():
            redemption = redemption_create(member=member, item=item, quantity=data["quantity"], key=key, actor=request.user)
            return 201, RedemptionSerializer(redemption).data

        return idempotently(request, run)


class RedemptionCancelView(SpendView):
    @extend_schema(
        operation_id="redemption_cancel", summary="Cancel a redemption: its points back to their lots, its units back to stock",
        request=ReasonInSerializer, responses={200: RedemptionSerializer, **problems(404, 409)}, **SPEND,
    )
    def post(self, request, member_id, pk):
        member = self.member(member_id)
        redemption = self.of_member(Redemption, member, pk, _("redemption"))
        data = ensure(ReasonInSerializer, request.data)
        return idempotently(request, lambda: (200, RedemptionSerializer(redemption_cancel(redemption=redemption, actor=request.user, reason=data["reason"])).data))


class CashOffsetQuoteView(SpendView):
    @extend_schema(
        operation_id="cash_offset_quote", summary="The most points an order can take under the cash offset policy",
        parameters=[OpenApiParameter("order_amount", str, required=True, description="The order's amount in yuan."), OpenApiParameter("category", str)],
        responses={200: OffsetQuoteSerializer, **problems(404)},
    )
    def get(self, request, member_id):
        member = self.member(member_id)
        serializer = OffsetQuoteInSerializer(data=request.query_params)
        if not serializer.is_valid():
            raise validation_problem(serializer.errors)
        quote = offset_quote(member=member, order_amount=serializer.validated_data["order_amount"], category=serializer.validated_data["category"])
        return Response(OffsetQuoteSerializer(quote).data)


class CashOffsetsView(SpendView):
    @extend_schema(
        operation_id="cash_offset_apply", summary="Pay part of an order with points (one offset per order)", request=OffsetInSerializer,
        responses={201: OffsetSerializer, 200: OffsetSerializer, **problems(404, 409)}, **SPEND,
    )
    def post(self, request, member_id):
        member = self.member(member_id)
        data = ensure(OffsetInSerializer, request.data)
        key = service_key(request, idempotency_key(request))

        def run():
            offset = offset_apply(
                member=member, order_ref=data["order_ref"], order_amount=data["order_amount"], points=data["points"], category=data["category"],
                key=key, actor=request.user,
            )
            return 201, OffsetSerializer(offset).data

        return idempotently(request, run)


class CashOffsetReverseView(SpendView):
    @extend_schema(
        operation_id="cash_offset_reverse", summary="Reverse a cash offset (the order was refunded): its points go back",
        request=ReasonInSerializer, responses={200: OffsetSerializer, **problems(404, 409)}, **SPEND,
    )
    def post(self, request, member_id, pk):
        member = self.member(member_id)
        offset = self.of_member(CashOffset, member, pk, _("cash offset"))
        data = ensure(ReasonInSerializer, request.data)
        return idempotently(request, lambda: (200, OffsetSerializer(offset_reverse(offset=offset, reason=data["reason"], actor=request.user)).data))


class LotteryDrawsView(SpendView):
    @extend_schema(
        operation_id="lottery_draw", summary="Draw once in a lottery, paying its cost", request=DrawInSerializer,
        responses={201: DrawSerializer, 200: DrawSerializer, **problems(404, 409, 422)}, **SPEND,
    )
    def post(self, request, member_id):
        member = self.member(member_id)
        data = ensure(DrawInSerializer, request.data)
        lottery = self.of_program(Lottery, data["lottery"], "lottery")
        key = service_key(request, idempotency_key(request))
        return idempotently(request, lambda: (201, DrawSerializer(lottery_draw(member=member, lottery=lottery, key=key, actor=request.user)).data))


class BenefitClaimsView(SpendView):
    @extend_schema(
        operation_id="benefit_claim", summary="Claim a benefit granted on claim (within its limit and stock)", request=ClaimInSerializer,
        responses={201: GrantSerializer, 200: GrantSerializer, **problems(404, 409, 422)}, **SPEND,
    )
    def post(self, request, member_id):
        member = self.member(member_id)
        data = ensure(ClaimInSerializer, request.data)
        benefit = self.of_program(Benefit, data["benefit"], "benefit")
        return idempotently(request, lambda: (201, GrantSerializer(benefit_claim(benefit=benefit, member=member, actor=None)).data))


class SubscriptionsView(SubscriptionListMixin, SpendView):
    required_scope = {"GET": "read", "POST": "spend"}

    @extend_schema(operation_id="member_subscriptions", summary="The member's paid memberships, newest first", responses={200: SubscriptionSerializer(many=True), **problems(404)})
    def get(self, request, member_id):
        return Response(self.subscriptions(self.member(member_id)))

    @extend_schema(
        operation_id="subscription_start", summary="Start a paid term of a plan, or its free trial", request=SubscriptionStartInSerializer,
        responses={201: SubscriptionSerializer, 200: SubscriptionSerializer, **problems(404, 409, 422)}, **SPEND,
    )
    def post(self, request, member_id):
        member = self.member(member_id)
        data = ensure(SubscriptionStartInSerializer, request.data)
        plan = self.of_program(Plan, data["plan"], "plan")
        reference = service_key(request, idempotency_key(request))

        def run():
            subscription = subscription_start(
                member=member, plan=plan, reference=reference, trial=data["trial"], amount=data.get("amount"), actor=request.user
            )
            return 201, SubscriptionSerializer(subscription).data

        return idempotently(request, run)


class SubscriptionActionView(SpendView):
    """Renew, extend with points or cancel one of the member's subscriptions."""

    def subscription(self, member_id, pk) -> Subscription:
        return self.of_member(Subscription, self.member(member_id), pk, _("subscription"))


class SubscriptionRenewView(SubscriptionActionView):
    @extend_schema(
        operation_id="subscription_renew", summary="Renew a subscription for another term", request=RenewInSerializer,
        responses={200: SubscriptionSerializer, **problems(404, 409)}, **SPEND,
    )
    def post(self, request, member_id, pk):
        subscription = self.subscription(member_id, pk)
        data = ensure(RenewInSerializer, request.data)
        reference = service_key(request, idempotency_key(request))
        return idempotently(
            request,
            lambda: (200, SubscriptionSerializer(subscription_renew(subscription=subscription, reference=reference, amount=data.get("amount"), actor=request.user)).data),
        )


class SubscriptionExtendView(SubscriptionActionView):
    @extend_schema(
        operation_id="subscription_extend_with_points", summary="Extend a subscription by a term paid with points", request=None,
        responses={200: SubscriptionSerializer, **problems(404, 409)}, **SPEND,
    )
    def post(self, request, member_id, pk):
        subscription = self.subscription(member_id, pk)
        reference = service_key(request, idempotency_key(request))
        return idempotently(
            request, lambda: (200, SubscriptionSerializer(subscription_extend_with_points(subscription=subscription, reference=reference, actor=request.user)).data)
        )


class SubscriptionCancelView(SubscriptionActionView):
    @extend_schema(
        operation_id="subscription_cancel", summary="End a subscription today", request=ReasonInSerializer,
        responses={200: SubscriptionSerializer, **problems(404, 409)}, **SPEND,
    )
    def post(self, request, member_id, pk):
        subscription = self.subscription(member_id, pk)
        data = ensure(ReasonInSerializer, request.data)
        return idempotently(
            request, lambda: (200, SubscriptionSerializer(subscription_cancel(subscription=subscription, reason=data["reason"], actor=request.user)).data)
        )


class InvitationsView(SpendView):
    @extend_schema(
        operation_id="invitation_accept", summary="The member was invited with a code: attribute them and reward both sides", request=InvitationInSerializer,
        responses={201: InvitationSerializer, 200: InvitationSerializer, **problems(404, 409)}, **SPEND,
    )
    def post(self, request, member_id):
        member = self.member(member_id)
        data = ensure(InvitationInSerializer, request.data)
        return idempotently(request, lambda: (201, InvitationSerializer(invitation_accept(code=data["code"], invitee=member)).data))
