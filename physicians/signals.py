"""What physicians hook into at start-up: key rotation of personal-data keys, and the
signals that make every process forget a cached handshake profile when a user is saved."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_save

from bus import outbox
from bus.protocol import CLOSE_UNAUTHENTICATED
from crypto import personal
from crypto.rotation import register_wrapped_field
from physicians.models import Physician, User

# User fields a socket's handshake profile is built from; a save touching one of them (or a
# save without update_fields) makes every process forget the cached profile. A last_login
# update does not.
# "password": a new password ends the user's sessions (Django's session auth hash), so the
# cached sessions go too.
_PROFILE_USER_FIELDS = frozenset({"role", "is_active", "email_sealed", "personal_key",
                                  "password"})


def connect() -> None:
    """Called once from ``PhysiciansConfig.ready``.

    ``manage.py keys rewrap`` must also rewrap each user's personal-data key; and role and
    profile edits made with ``save()`` (the admin, management commands, any future edit
    service) invalidate the socket-profile cache without each having to remember to —
    services that write with ``update()`` call ``outbox.profile_changed``."""
    register_wrapped_field(
        "physicians.user.personal_key",
        model=User, field="personal_key", purpose="personal",
        owner=lambda row: str(row.pk),
        rewrap=personal.rewrap_personal_key,
    )

    def user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
        if created or (update_fields is not None
                       and not _PROFILE_USER_FIELDS.intersection(update_fields)):
            return
        _changed(str(instance.pk))
        # A new password (``set_password`` then save; Django leaves ``_password`` set until
        # after post_save, and clears it for a mere hash upgrade at login) ends every session
        # of the user, so every socket goes too (4401) — whatever opened it: a session, a
        # ticket a session asked for, or a ticket by the old password. A client still logged
        # in (``update_session_auth_hash``) reconnects with a new ticket.
        if getattr(instance, "_password", None) is not None:
            outbox.close_user_sockets(user_id=str(instance.pk), code=CLOSE_UNAUTHENTICATED)

    def physician_saved(sender, instance, created, **kwargs) -> None:
        if not created:
            _changed(str(instance.user_id))

    def specialties_changed(sender, instance, action, **kwargs) -> None:
        if action.startswith("post_") and isinstance(instance, Physician):
            _changed(str(instance.user_id))

    post_save.connect(user_saved, sender=User, weak=False,
                      dispatch_uid="physicians.socket_profile.user")
    post_save.connect(physician_saved, sender=Physician, weak=False,
                      dispatch_uid="physicians.socket_profile.physician")
    m2m_changed.connect(specialties_changed, sender=Physician.specialties.through, weak=False,
                        dispatch_uid="physicians.socket_profile.specialties")


def _changed(user_id: str) -> None:
    outbox.profile_changed(user_id=user_id)
