"""Erasure by key destruction: the erased physician's content stops decrypting, the rest of
the room does not notice."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from crypto import envelope
from crypto.aead import DecryptError
from crypto.personal import email_index
from physicians import selectors, services
from physicians.models import Physician, User
from rooms import messages, roster
from rooms import selectors as room_selectors
from rooms import services as room_services
from rooms.models import Message

pytestmark = pytest.mark.django_db


def _post(user, room_id: str, body: str) -> int:
    room_services.room_join(room_id=room_id, user=user)
    author = roster.author_for(user_id=str(user.pk), room_id=room_id, role=user.role,
                               specialty="cardiology", verified=True)
    return messages.message_post(room_id=room_id, user=user, author=author, body=body,
                                      client_id=body).seq


def test_erasure_shreds_one_author_and_leaves_the_room_readable(make_physician):
    (a, a_email, _), (b, _, _) = make_physician(), make_physician()
    lounge = "lounge-cardiology"
    a_seq = _post(a.user, lounge, "from the erased doctor")
    b_seq = _post(b.user, lounge, "from the one who stays")

    call_command("erase_physician", "--user", str(a.user_id))

    a_msg = Message.objects.get(room_id=lounge, seq=a_seq)
    with pytest.raises(DecryptError):
        envelope.message_open(room_id=lounge, message_id=str(a_msg.id), seq=a_seq,
                              author=a_msg.author,
                              sealed=envelope.Sealed(a_msg.epoch, a_msg.key_id,
                                                     bytes(a_msg.body_sealed)))
    page = {m["seq"]: m["body"] for m in
            room_selectors.messages_since(room_id=lounge, since=0).messages}
    assert page == {a_seq: "", b_seq: "from the one who stays"}

    erased = Physician.objects.select_related("user", "primary_specialty").get(pk=a.pk)
    profile = selectors.physician_profile(physician=erased)
    assert (profile.email, profile.display_name, profile.first_name) == ("", "", "")
    user = User.objects.get(pk=a.user_id)
    assert user.personal_key is None and not user.is_active and user.erased_at is not None
    # The e-mail no longer finds the account, and may register again.
    assert not User.objects.filter(email_index=email_index(a_email)).exists()
    assert services.physician_get(user_id=str(b.user_id)).user.is_active
