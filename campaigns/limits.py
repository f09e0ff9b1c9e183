"""A campaign's budget and its limit per member, as the booking's limit (``hooks.earning_limit``).

A booking that may apply a campaign's rule locks the campaign's row for the rest of its
transaction (``select_for_update``, in the order of their keys): bookings that may spend one
budget — API calls in parallel, an import in several processes — take turns on it, so what the
campaign credits never passes its budget. The counts are kept in memory for the booking (one by
one or a whole batch) and written once at its end.
"""

from __future__ import annotations

from common.bulk import rows_insert, rows_update

from .models import Campaign, CampaignMember


class CampaignLimits:
    def __init__(self, *, rules, member_pks):
        campaigns = list(Campaign.objects.select_for_update().filter(rule_id__in=[rule.pk for rule in rules]).order_by("pk"))
        self.by_rule = {campaign.rule_id: campaign for campaign in campaigns}
        self.members = {
            (row.campaign_id, row.member_id): row
            for row in CampaignMember.objects.filter(campaign__in=campaigns, member_id__in=list(member_pks))
        } if campaigns else {}
        self.changed: set[int] = set()
        self.touched: dict[tuple[int, int], CampaignMember] = {}

    def _member(self, campaign: Campaign, member_pk: int) -> CampaignMember:
        key = (campaign.pk, member_pk)
        row = self.members.get(key)
        if row is None:
            row = self.members[key] = CampaignMember(campaign_id=campaign.pk, member_id=member_pk)
        return row

    def room(self, *, rule, member_pk: int) -> int | None:
        campaign = self.by_rule.get(rule.pk)
        if campaign is None:
            return None
        rooms = []
        if campaign.budget is not None:
            rooms.append(max(0, campaign.budget - campaign.credited))
        if campaign.member_limit is not None:
            rooms.append(max(0, campaign.member_limit - self._member(campaign, member_pk).credited))
        return min(rooms) if rooms else None

    def use(self, *, rule, member_pk: int, amount: int, refused: int) -> None:
        campaign = self.by_rule.get(rule.pk)
        if campaign is None:
            return
        campaign.credited += amount
        campaign.refused += refused
        row = self._member(campaign, member_pk)
        row.credited += amount
        row.refused += refused
        self.changed.add(campaign.pk)
        self.touched[campaign.pk, member_pk] = row

    def flush(self) -> None:
        rows_update(Campaign, [c for c in self.by_rule.values() if c.pk in self.changed], ["credited", "refused"])
        rows_insert(CampaignMember, [row for row in self.touched.values() if row.pk is None])
        rows_update(CampaignMember, [row for row in self.touched.values() if row.pk is not None], ["credited", "refused"])
        self.changed.clear()
        self.touched.clear()


def campaign_limits_session(*, rules, member_pks) -> CampaignLimits | None:
    return CampaignLimits(rules=rules, member_pks=member_pks)
