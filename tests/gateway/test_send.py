"""The consumer's send: a frame that cannot be sent never takes the socket down.

Before, autobahn's PayloadExceededError (a reply over the incoming frame limit) rose out of
``send``, ended the consumer without ``disconnect`` and made daphne close the socket with
1011 (tests/e2e/test_long_messages.py shows it over real sockets).
"""

from __future__ import annotations

import logging

from autobahn.exception import Disconnected, PayloadExceededError
from django.test import override_settings

from gateway.consumer import CurbsideConsumer


def _consumer(fail: Exception | None = None) -> tuple[CurbsideConsumer, list[dict]]:
    sent: list[dict] = []

    async def base_send(message: dict) -> None:
        if fail is not None:
            raise fail
        sent.append(message)

    consumer = CurbsideConsumer()
    consumer.base_send = base_send
    return consumer, sent


@override_settings(CURBSIDE_SEND_FRAME_BYTES=1000)
async def test_a_frame_over_the_send_limit_is_dropped_and_logged(caplog, _every_frame_checked):
    consumer, sent = _consumer()
    await consumer.send(text_data='{"op":"event","type":"message.new","data":"' + "é" * 500 + '"}')
    assert sent == []
    assert "frame not sent: 1045 bytes, over the 1000-byte send limit" in caplog.text
    assert '"type":"message.new"' in caplog.text and "é" not in caplog.text  # no data logged
    await consumer.send(text_data="é" * 250)  # 500 bytes: under the limit
    assert sent == [{"type": "websocket.send", "text": "é" * 250}]
    # The frames here are junk on purpose (no event of the protocol): not a finding.
    _every_frame_checked.clear()


async def test_a_send_that_fails_is_logged_not_raised(caplog, _every_frame_checked):
    caplog.set_level(logging.DEBUG, logger="gateway.consumer")
    consumer, _ = _consumer(PayloadExceededError("tried to send WebSocket message with size"))
    await consumer.send(text_data="{}")
    assert "send failed; the socket stays open" in caplog.text
    consumer, _ = _consumer(Disconnected("Attempt to send on a closed protocol"))
    await consumer.send(text_data="{}")
    assert "send to a closing socket dropped" in caplog.text
    # The frames here are junk on purpose (no event of the protocol): not a finding.
    _every_frame_checked.clear()
