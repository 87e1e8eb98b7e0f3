"""Issue 12's acceptance on two daphne processes (PostgreSQL + Redis): a crowd consult by a
poster and three colleagues of other specialties who were never invited; the metrics read
back from the API. The embedded default runs the same scenario (tests/e2e/test_embedded.py)."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.support.cases import assert_crowd_metrics, crowd_consult
from tests.support.sockets import open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share state over Redis"),
]


async def test_a_crowd_consult_on_two_processes(daphne_pair, make_physician):
    one, two = daphne_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    colleagues = [await open_socket(server, make_physician, specialty=specialty)
                  for server, specialty in ((two, "neurology"), (one, "internal-medicine"),
                                            (two, "pediatrics"))]
    for ws in (poster, *colleagues):
        ws.me_id = ws.physician.user_id
    case = await crowd_consult(poster, colleagues)
    assert_crowd_metrics(case)
    for ws in (poster, *colleagues):
        await ws.close()
