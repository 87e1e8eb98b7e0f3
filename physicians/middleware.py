"""A staff session that did not pass a one-time code is no session (physicians/twofactor.py).

Runs after django-otp's ``OTPMiddleware``, which sets ``user.is_verified()`` from the device
stored in the session at login. A moderator, verifier or admin whose session has none — a
session from before two-factor sign-in was required, or one whose device was replaced — is
anonymous to every view: 401 ``unauthorized`` for the API, as if logged out.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import SimpleLazyObject

from physicians.twofactor import otp_required


def _gate(user):
    verified = getattr(user, "is_verified", None)
    if user.is_authenticated and otp_required(user) and not (verified and verified()):
        anonymous = AnonymousUser()
        anonymous.otp_device = None
        anonymous.is_verified = lambda: False
        return anonymous
    return user


class StaffOTPMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def _install(self, request) -> None:
        user = getattr(request, "user", None)
        if user is not None:
            request.user = SimpleLazyObject(lambda: _gate(user))
        auser = getattr(request, "auser", None)
        if auser is not None:
            async def gated():
                return _gate(await auser())

            request.auser = gated

    def __call__(self, request):
        if self._is_async:
            return self.__acall__(request)
        self._install(request)
        return self.get_response(request)

    async def __acall__(self, request):
        self._install(request)
        return await self.get_response(request)
