"""The free text of moderation — report reasons, resolution notes, hide and ban reasons.

People write these, and they can name a patient as easily as a message can. So each one:

1. passes the PHI guard (phi/guard.py) before anything is stored: ``phi_detected`` with the
   spans unless the writer confirmed (``confirm_phi``), and a confirmation is audited
   (``phi.confirm``, kinds and count only) in the transaction that stores the text;
2. is stored only sealed under the room's current epoch key (``crypto.envelope.blob_seal``)
   with a label that binds the ciphertext to its row (``report-reason:<seq>:<reporter>``,
   ``report-resolution:<report id>``, ``hide-reason:<message id>``, ``ban-reason:<ban id>``):
   one column per text, epoch and key id packed in front (``Sealed.packed``). A report
   reason also mixes in the reporter's author key, so erasing the reporter shreds it;
3. never enters the audit log: the entries of the actions carry codes and ids only
   (rooms/moderation.py), because that log can never be cleaned.
"""

from __future__ import annotations

from crypto import envelope


def reason_seal(*, room_id: str, label: str, text: str, author: str | None = None) -> bytes:
    """``text`` sealed under the room's current epoch key (and ``author``'s key when given),
    packed for one binary column. Call it inside the storing transaction."""
    return envelope.blob_seal(room_id=room_id, attachment_id=label, body=text.encode(),
                              author=author).packed()


def reason_open(*, room_id: str, label: str, packed: bytes | memoryview | None,
                author: str | None = None) -> str | None:
    """The text sealed by ``reason_seal`` with the same ``label`` and ``author``; ``""`` for
    no value; None when its keys were destroyed (the reporter was erased).

    Raises:
        DecryptError: the value was altered or belongs to another row or room.
    """
    if packed is None or not bytes(packed):
        return ""
    try:
        return envelope.blob_open(room_id=room_id, attachment_id=label, author=author,
                                  sealed=envelope.Sealed.unpacked(bytes(packed))).decode()
    except envelope.KeysDestroyed:
        return None


def report_label(seq: int, reporter: str) -> str:
    return f"report-reason:{seq}:{reporter}"


def resolution_label(report_id: int) -> str:
    return f"report-resolution:{report_id}"


def hide_label(message_id: str) -> str:
    return f"hide-reason:{message_id}"


def ban_label(ban_id: str) -> str:
    return f"ban-reason:{ban_id}"

