"""Login by e-mail through the blind index; the address itself is never queried."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from crypto.personal import email_index
from physicians.models import User


class EmailBackend(ModelBackend):
    def authenticate(self, request, email: str | None = None, password: str | None = None, **kw):
        if not email or not password:
            return None
        try:
            user = User.objects.get(email_index=email_index(email))
        except User.DoesNotExist:
            # Run the hasher anyway so a missing account costs the same time as a wrong password.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
