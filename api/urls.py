"""The platform API, version 1 (``/api/v1/``)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .views import ingest, privacy, reads, spend

member = "members/<str:member_id>"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(f"{member}", ingest.MemberView.as_view(), name="api-member"),
    path(f"{member}/events", ingest.MemberEventView.as_view(), name="api-member-events"),
    path(f"{member}/growth-entries", reads.GrowthEntriesView.as_view(), name="api-member-growth"),
    path(f"{member}/points-entries", reads.PointsEntriesView.as_view(), name="api-member-points"),
    path(f"{member}/benefit-grants", reads.BenefitGrantsView.as_view(), name="api-member-grants"),
    path(f"{member}/invite-code", reads.InviteCodeView.as_view(), name="api-member-invite-code"),
    path(f"{member}/mall-items", reads.MallItemsView.as_view(), name="api-member-mall"),
    path(f"{member}/redemptions", spend.RedemptionsView.as_view(), name="api-member-redemptions"),
    path(f"{member}/redemptions/<int:pk>/cancel", spend.RedemptionCancelView.as_view(), name="api-member-redemption-cancel"),
    path(f"{member}/cash-offset-quote", spend.CashOffsetQuoteView.as_view(), name="api-member-offset-quote"),
    path(f"{member}/cash-offsets", spend.CashOffsetsView.as_view(), name="api-member-offsets"),
    path(f"{member}/cash-offsets/<int:pk>/reverse", spend.CashOffsetReverseView.as_view(), name="api-member-offset-reverse"),
    path(f"{member}/lottery-draws", spend.LotteryDrawsView.as_view(), name="api-member-draws"),
    path(f"{member}/benefit-claims", spend.BenefitClaimsView.as_view(), name="api-member-claims"),
    path(f"{member}/subscriptions", spend.SubscriptionsView.as_view(), name="api-member-subscriptions"),
    path(f"{member}/subscriptions/<int:pk>/renew", spend.SubscriptionRenewView.as_view(), name="api-member-subscription-renew"),
    path(f"{member}/subscriptions/<int:pk>/extend-with-points", spend.SubscriptionExtendView.as_view(), name="api-member-subscription-extend"),
    path(f"{member}/subscriptions/<int:pk>/cancel", spend.SubscriptionCancelView.as_view(), name="api-member-subscription-cancel"),
    path(f"{member}/invitations", spend.InvitationsView.as_view(), name="api-member-invitations"),
    path(f"{member}/personal-data", privacy.PersonalDataView.as_view(), name="api-member-personal-data"),
    path(f"{member}/erasure", privacy.ErasureView.as_view(), name="api-member-erasure"),
    path("orders/batch", ingest.OrderBatchView.as_view(), name="api-orders-batch"),
    path("orders/<str:order_id>", ingest.OrderView.as_view(), name="api-order"),
    path("events", reads.FeedView.as_view(), name="api-events"),
    path("event-types", reads.EventTypesView.as_view(), name="api-event-types"),
]
