"""What the console shows of campaigns outside their own pages: the maker's decided campaigns."""

from django.urls import reverse
from django.utils.translation import gettext as _

from membership.hooks import Decision

from .models import Campaign
from .selectors import campaign_decisions


def campaign_decisions_shown(*, user, since) -> list[Decision]:
    return [
        Decision(
            at=t.at, text=_("Campaign %(code)s %(name)s") % {"code": t.campaign.code, "name": t.campaign.name},
            approved=t.to_status == Campaign.Status.APPROVED, by=t.actor.get_username() if t.actor else "", note=t.note,
            url=reverse("admin:campaigns_campaign_change", args=[t.campaign_id]),
        )
        for t in campaign_decisions(user=user, since=since)
    ]
