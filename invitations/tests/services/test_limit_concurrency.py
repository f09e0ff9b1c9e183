"""Parallel acceptances of one inviter's code on PostgreSQL never reward more than the monthly limit."""

import threading

import pytest
from django.db import connection, connections

from invitations.models import Invitation, InvitationPolicy
from invitations.services import invitation_accept, invite_code_get_or_create
from membership.tests.factories import MemberFactory
from points.selectors import points_balance_get

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions need a database server")


def test_parallel_acceptances_respect_the_monthly_limit(transactional_db, program):
    InvitationPolicy.objects.create(program=program, inviter_points=100, monthly_limit=2)
    inviter = MemberFactory()
    code = invite_code_get_or_create(member=inviter).code
    invitees = [MemberFactory() for _ in range(5)]
    barrier = threading.Barrier(len(invitees))

    def accept(invitee):
        try:
            barrier.wait()
            invitation_accept(code=code, invitee=invitee)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(invitee,)) for invitee in invitees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Invitation.objects.count() == 5 and Invitation.objects.filter(rewarded=True).count() == 2
    assert points_balance_get(member=inviter) == 200
