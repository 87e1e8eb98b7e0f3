"""Every state change of physicians and licences (HackSoft style: keyword-only, typed).

Services validate, write in one transaction, and raise ``core.errors`` exceptions that
the transports translate. Side effects on live sockets go out only after commit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from bus import hub, outbox
from core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    NotFound,
    OTPInvalid,
    OTPRequired,
    Unauthorized,
    ValidationFailed,
)
from crypto import personal
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from phi.guard import phi_guard
from physicians import licences, throttle, tickets, twofactor
from physicians.models import (
    LicenceDecision,
    Physician,
    RegistryEntry,
    Role,
    Specialty,
    User,
    licence_reason_field,
)
from physicians.oncall import ScheduleError, parse_schedule, parse_timezone, schedule_to_json
from physicians.selectors import physician_profile
from physicians.states import LicenceStatus, transition
from physicians.verification import (
    LicenceClaim,
    ManualReviewBackend,
    RegistryFileBackend,
    VerificationBackend,
)

log = logging.getLogger(__name__)

# Languages a profile may list (ISO 639-1). Spanish and English are first-class; the rest
# help routing match a case's language.
LANGUAGES = frozenset({"en", "es", "fr", "pt", "de", "it", "zh", "ar", "hi", "af", "zu", "xh", "ga"})
# Close code sent to live sockets when a licence is suspended or an account banned.
CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHENTICATED = 4401


# Longest first or last name, and longest display name, in characters. The display name (or
# the default "Dr. <first> <last>", at most 4 + 2 × 60 + 1 characters) is the author card's
# name in rooms where the member appears under their real name: every message of a history
# page carries one, and pages are sized on it (rooms.selectors.MESSAGE_OVERHEAD_BYTES).
NAME_MAX_CHARS = 60
DISPLAY_NAME_MAX_CHARS = 128


@dataclass(frozen=True)
class Registration:
    email: str
    password: str
    first_name: str
    last_name: str
    country: str
    licence_number: str
    specialty: str
    jurisdiction: str = ""
    display_name: str = ""
    specialties: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en",)


class AlreadyRegistered(Conflict):
    """The e-mail (``what="email"``) or the licence (``what="licence"``, ``owner_id`` the
    account that holds it) is already registered. Never shown to the public sign-up
    (``physician_sign_up``), whose answer does not depend on it."""

    def __init__(self, message: str, *, what: str, owner_id: str = "", **kw) -> None:
        super().__init__(message, **kw)
        self.what = what
        self.owner_id = owner_id


def physician_register(
    *,
    data: Registration,
    role: str = Role.PHYSICIAN,
    backend: VerificationBackend | None = None,
) -> Physician:
    """Create an account and a pending physician profile, then ask ``backend`` about the
    licence: a registry match verifies at once, a mismatch rejects, anything else waits for
    a verifier.

    Raises:
        ValidationFailed: a field is malformed (``fields`` names each one).
        Conflict: the e-mail or the licence is already registered.
    """
    fields: dict[str, str] = {}
    email = personal.normalize_email(data.email)
    try:
        validate_email(email)
    except ValidationError:
        fields["email"] = "Enter a valid e-mail address."
    try:
        validate_password(data.password)
    except ValidationError as exc:
        fields["password"] = " ".join(exc.messages)
    for name in ("first_name", "last_name"):
        if not getattr(data, name).strip():
            fields[name] = "This field is required."
        elif len(getattr(data, name).strip()) > NAME_MAX_CHARS:
            fields[name] = f"At most {NAME_MAX_CHARS} characters."
    if len(data.display_name.strip()) > DISPLAY_NAME_MAX_CHARS:
        fields["display_name"] = f"At most {DISPLAY_NAME_MAX_CHARS} characters."
    country = jurisdiction = number = ""
    try:
        country = licences.normalize_country(data.country)
        number = licences.validate_licence(
            country=country, number=data.licence_number, jurisdiction=data.jurisdiction
        )
        jurisdiction = licences.normalize_jurisdiction(country=country,
                                                       jurisdiction=data.jurisdiction)
    except licences.LicenceFormatError as exc:
        fields[exc.field] = exc.message
    if role not in Role.values:
        fields["role"] = f"Unknown role; expected one of {', '.join(Role.values)}."
    bad_langs = sorted(set(data.languages) - LANGUAGES)
    if bad_langs or not data.languages:
        fields["languages"] = f"Unsupported language codes: {', '.join(bad_langs) or 'none given'}."
    slugs = {data.specialty, *data.specialties}
    found = {s.slug: s for s in Specialty.objects.filter(slug__in=slugs)}
    if data.specialty not in found:
        fields["specialty"] = f"Unknown specialty '{data.specialty}'."
    elif missing := sorted(slugs - set(found)):
        fields["specialties"] = f"Unknown specialties: {', '.join(missing)}."
    if fields:
        raise ValidationFailed("Some fields are invalid.", fields=fields)

    e_index = personal.email_index(email)
    l_index = personal.blind_index("licence", f"{country}:{number}")
    display = data.display_name.strip() or f"Dr. {data.first_name.strip()} {data.last_name.strip()}"
    try:
        with outbox.atomic():
            user = User(email_index=e_index, role=role)
            key, wrapped = personal.new_personal_key(str(user.pk))
            user.personal_key = wrapped
            user.email_sealed = personal.seal_field(key, str(user.pk), "email", email)
            user.set_password(data.password)
            user.save(force_insert=True)
            real_name = json.dumps({"first": data.first_name.strip(), "last": data.last_name.strip()})
            physician = Physician.objects.create(
                user=user,
                display_name_sealed=personal.seal_field(key, str(user.pk), "display_name", display),
                real_name_sealed=personal.seal_field(key, str(user.pk), "real_name", real_name),
                licence_number_sealed=personal.seal_field(key, str(user.pk), "licence", number),
                licence_index=l_index,
                country=country,
                jurisdiction=jurisdiction,
                primary_specialty=found[data.specialty],
                languages=list(dict.fromkeys(data.languages)),
            )
            physician.specialties.set([found[s] for s in data.specialties if s != data.specialty])
    except IntegrityError:
        if User.objects.filter(email_index=e_index).exists():
            raise AlreadyRegistered("This e-mail is already registered.", what="email",
                                    fields={"email": "Already registered."}) from None
        owner = Physician.objects.filter(licence_index=l_index).values_list("user_id", flat=True)
        raise AlreadyRegistered("This licence is already registered.", what="licence",
                                owner_id=str(owner.first() or ""),
                                fields={"licence_number": "Already registered."}) from None

    claim = LicenceClaim(
        country=country,
        licence_number=number,
        first_name=data.first_name.strip(),
        last_name=data.last_name.strip(),
        jurisdiction=jurisdiction,
    )
    backend = backend or ManualReviewBackend()
    outcome = backend.check(claim)
    if outcome.decision in (LicenceStatus.VERIFIED, LicenceStatus.REJECTED):
        licence_decide(physician=physician, to_status=outcome.decision, by=None,
                       backend=backend.name, reason=outcome.reason)
    return physician


# Where a verifier's pseudonym lives: the audit log names verifiers by this, never by id.
VERIFIER_DOMAIN = "verifications"


def verifier_actor(user: User) -> str:
    """The audit actor for a verifier: a pseudonym (the decision row says who, for those
    who may know), never the user id."""
    return f"verifier:{pseudonym_id(user_id=str(user.pk), room_id=VERIFIER_DOMAIN)}"


SIGN_UP_ANSWER = ("Thank you. If an account could be created for this address, you can sign "
                  "in with it now; either way we have sent an e-mail about it to that address.")

_SIGN_UP_MAIL = {
    "created": (
        "Your Curbside account",
        "Welcome to Curbside. Your account has been created and you can sign in now. Your "
        "medical licence will be checked before you can join consults; we will let you know.\n\n"
        "If you did not sign up, someone used your address: write to us and we will remove "
        "the account.",
    ),
    "email_taken": (
        "Signing up to Curbside",
        "Someone tried to sign up to Curbside with this e-mail address, which already has an "
        "account. If it was you, sign in with your password instead. If it was not, you "
        "need to do nothing: no account was changed.",
    ),
    "licence_taken_applicant": (
        "Signing up to Curbside",
        "We could not create a Curbside account for this address: the medical licence number "
        "given is already registered to another account. If the licence is yours, write to "
        "us and we will look into it.",
    ),
    "licence_taken_owner": (
        "Your licence number was used to sign up",
        "Someone tried to sign up to Curbside with the medical licence number registered to "
        "your account. No account was created. If it was not you, please tell us.",
    ),
}


def _sign_up_mail(kind: str, to: str, *, user_id: str = "") -> None:
    """One outcome mail; the log line names the outcome and the account, never the address."""
    subject, body = _SIGN_UP_MAIL[kind]
    try:
        if to:
            send_mail(subject, body, None, [to])
    except Exception:  # a mail server that is down must not change the public answer
        log.exception("sign-up mail %s failed (user %s)", kind, user_id or "-")


def physician_sign_up(*, data: Registration, client_ip: str | None,
                      backend: VerificationBackend | None = None) -> str:
    """The public sign-up: ``physician_register``, answered the same whatever happened.

    Whether the e-mail or the licence is already registered is not revealed to the caller:
    a new account, a taken e-mail and a taken licence all return ``SIGN_UP_ANSWER``, and the
    real outcome goes by e-mail to the owner of the address (and, for a taken licence, to the
    licence's owner too). Both paths hash the password once. Limited per client address
    (``CURBSIDE_SIGNUPS_PER_IP`` accepted sign-ups per ``CURBSIDE_SIGNUP_WINDOW_S``); a
    malformed one is not counted.

    Raises:
        RateLimited: too many sign-ups from this address (``retry_after_s``).
        ValidationFailed: a field is malformed (as ``physician_register``).
    """
    limit = throttle.signup_ip_limit()
    key = throttle.client_key("signup-ip", client_ip)
    throttle.check(key)
    email = personal.normalize_email(data.email)
    try:
        physician = physician_register(data=data, backend=backend)
    except AlreadyRegistered as exc:
        throttle.count(limit, key)
        if exc.what == "email":
            log.info("sign-up: e-mail taken, nothing created")
            _sign_up_mail("email_taken", email)
        else:
            log.info("sign-up: licence taken (held by user %s), nothing created", exc.owner_id)
            _sign_up_mail("licence_taken_applicant", email)
            owner = Physician.objects.select_related("user", "primary_specialty").filter(
                user_id=exc.owner_id or None).first()
            if owner is not None:
                _sign_up_mail("licence_taken_owner", physician_profile(physician=owner).email,
                              user_id=exc.owner_id)
        return SIGN_UP_ANSWER
    throttle.count(limit, key)
    log.info("sign-up: account created (user %s, licence %s)", physician.user_id,
             physician.licence_status)
    _sign_up_mail("created", email, user_id=str(physician.user_id))
    return SIGN_UP_ANSWER


def licence_decide(
    *, physician: Physician, to_status: str, by: User | None, backend: str = "manual",
    reason: str = "", from_status: str | None = None, confirm_phi: bool = False,
) -> LicenceDecision:
    """Move a licence through the state machine and record who decided, when and why.
    Suspension closes every live socket of the physician (after commit). ``from_status``,
    when given, is the only state the move may start from: "reinstate" and "verify" both
    target ``verified``, but reinstating a never-verified licence must not verify it.

    The reason is stored only sealed under the physician's personal key. A verifier's
    reason (``by`` set) passes the PHI guard first; a confirmed one is audited as
    ``phi.confirm`` (codes only). A backend's reason (``by`` None) is the code's own text.

    Raises:
        core.errors.IllegalTransition: the move is not allowed from the current state
            (or the current state is not ``from_status``).
        ValidationFailed: a rejection or suspension without a reason.
        PhiDetected: a verifier's reason looks like patient data and ``confirm_phi`` is unset.
    """
    reason = reason.strip()
    if to_status in (LicenceStatus.REJECTED, LicenceStatus.SUSPENDED) and not reason:
        raise ValidationFailed("A reason is required.", fields={"reason": "This field is required."})
    findings = phi_guard(reason, field="reason", confirmed=confirm_phi) if by is not None else []
    with outbox.atomic():
        locked = Physician.objects.select_for_update().get(pk=physician.pk)
        current = locked.licence_status
        if from_status is not None and current != from_status:
            raise IllegalTransition(current, to_status, what="licence")
        locked.licence_status = transition(current, to_status)
        locked.status_changed_at = timezone.now()
        locked.save(update_fields=["licence_status", "status_changed_at"])
        decision = LicenceDecision.objects.create(
            physician=locked, from_status=current, to_status=to_status, decided_by=by,
            backend=backend,
        )
        decision.reason_remember(_reason_seal(decision, reason))
        if findings:
            phi_confirmation_record(actor=verifier_actor(by),
                                    subject=f"licence-decision:{decision.pk}",
                                    op="licence.decide", findings=findings)
        if to_status == LicenceStatus.SUSPENDED:
            outbox.close_user_sockets(user_id=str(locked.user_id), code=CLOSE_FORBIDDEN)
        # Every process forgets the cached handshake profile (licence status, badge).
        outbox.profile_changed(user_id=str(locked.user_id))
    physician.licence_status = locked.licence_status
    physician.status_changed_at = locked.status_changed_at
    return decision


def _reason_seal(decision: LicenceDecision, reason: str) -> str:
    """Seal ``reason`` on the decision row under the physician's personal key; returns what
    is readable now (``""`` for no reason, or an erased physician: there is no key)."""
    owner = str(decision.physician_id)
    wrapped = User.objects.filter(pk=owner).values_list("personal_key", flat=True).first()
    if not reason or wrapped is None:
        return ""
    key = personal.unwrap_personal_key(owner, bytes(wrapped))
    decision.reason_sealed = personal.seal_field(key, owner, licence_reason_field(decision.pk),
                                                 reason)
    decision.save(update_fields=["reason_sealed"])
    return reason


def physician_get(*, user_id: str) -> Physician:
    try:
        return Physician.objects.select_related("user", "primary_specialty").get(user_id=user_id)
    except (Physician.DoesNotExist, ValidationError, ValueError):
        raise NotFound("No such physician.") from None


# --- Login ---------------------------------------------------------------------------------

def login_check(*, email: str, password: str, otp: str | None,
                client_ip: str | None) -> tuple[User, TOTPDevice | None]:
    """The active user ``email`` and ``password`` (and, when the account needs one, the
    one-time code ``otp``) name, for a login or a ticket by password, with the device that
    accepted the code (None when none was needed).

    Throttled before the password is looked at (physicians/throttle.py): a locked account or
    client address is refused whether or not the password is right, and an e-mail without an
    account is counted and locked exactly like one with. A wrong password or a wrong code
    counts against both; a missing code does not (the client is asking what is needed).

    Raises:
        RateLimited: the account or the client address is locked, or django-otp's back-off
            after wrong codes has not run out (``retry_after_s``).
        Unauthorized: the e-mail or the password is wrong (or the account is inactive).
        OTPRequired: the password is right, and the account needs a code (staff, or
            two-factor sign-in turned on); none was sent.
        OTPInvalid: the code is wrong, malformed or already used.
        OTPEnrolmentRequired: a staff account without an enrolled device.
    """
    account = throttle.account_key(email)
    client = throttle.client_key("login-ip", client_ip)
    throttle.check(account, client)
    user = authenticate(None, email=email, password=password)
    if user is None:
        throttle.count(throttle.login_account_limit(), account)
        throttle.count(throttle.login_ip_limit(), client)
        raise Unauthorized("E-mail or password is wrong.")
    device = twofactor.login_device(user)
    if device is not None:
        if not otp:
            raise OTPRequired("Enter the one-time code from your authenticator app.")
        try:
            device = twofactor.code_verify(user=user, device=device, code=otp)
        except OTPInvalid:
            throttle.count(throttle.login_account_limit(), account)
            throttle.count(throttle.login_ip_limit(), client)
            raise
    throttle.forget(account)
    return user, device


# --- WebSocket tickets ---------------------------------------------------------------------

async def ws_ticket_issue_async(*, user_id: str, session_key: str | None = None,
                                now: datetime | None = None) -> tuple[str, datetime]:
    """A single-use ticket for ``/ws/v1/?ticket=…``, valid for ``CURBSIDE_TICKET_TTL_S``.

    Stateless (physicians/tickets.py): sealed, not stored — issuing writes nothing; it reads
    the spent-nonce store's epoch (cached for a second), which the ticket carries. A ticket
    asked for by a browser session (``session_key``) carries the session's reference (its
    socket group's digest, not the key): the socket it opens closes when the session logs
    out."""
    now = now or timezone.now()
    expires = now + timedelta(seconds=settings.CURBSIDE_TICKET_TTL_S)
    epoch = await tickets.spent_nonces().epoch()
    return tickets.ticket_seal(
        user_id=user_id, expires_at=expires.timestamp(), epoch=epoch,
        session_group=hub.session_group(session_key) if session_key else None), expires


def ws_ticket_issue(*, user_id: str, session_key: str | None = None,
                    now: datetime | None = None) -> tuple[str, datetime]:
    """``ws_ticket_issue_async`` for synchronous callers (views, tests)."""
    return async_to_sync(ws_ticket_issue_async)(user_id=user_id, session_key=session_key,
                                                now=now)


async def ws_ticket_spend(*, ticket: str, now: datetime | None = None) -> tickets.Ticket | None:
    """The ticket's contents (user id, the session that asked for it), or None when it is
    malformed, tampered with, expired or spent — or issued under an epoch the spent-nonce
    store no longer has (it forgot its nonces). Single use: the ticket's nonce is spent in
    one atomic write (Redis ``SET NX`` across processes), so two redeemers cannot both win.
    No database access."""
    at = (now or timezone.now()).timestamp()
    opened = tickets.ticket_open(ticket, now=at)
    if opened is None:
        return None
    if not await tickets.spent_nonces().spend(opened.nonce, expires_at=opened.expires_at, now=at,
                                              epoch=opened.epoch):
        return None
    return opened


async def ws_ticket_redeem(*, ticket: str, now: datetime | None = None) -> str | None:
    """``ws_ticket_spend``'s user id."""
    opened = await ws_ticket_spend(ticket=ticket, now=now)
    return opened.user_id if opened is not None else None


def session_end(*, session_key: str | None) -> None:
    """Logout: close the sockets opened with this browser session."""
    if session_key:
        outbox.close_session_sockets(session_key=session_key, code=CLOSE_UNAUTHENTICATED)


def default_backend() -> VerificationBackend:
    """The registry-file backend when a registry has been imported, else manual review."""
    if RegistryEntry.objects.exists():
        return RegistryFileBackend()
    return ManualReviewBackend()


def physician_on_call_set(*, user_id: str, on_call: bool) -> None:
    """Remember the on-call flag across sessions (live presence holds the current one)."""
    Physician.objects.filter(user_id=user_id).update(on_call=on_call)
    # The next socket restores the flag from the cached profile: it must see this one.
    outbox.profile_changed(user_id=user_id)


def physician_schedule_set(*, user_id: str, schedule: list, time_zone: str) -> None:
    """Store a weekly on-call schedule; the routing driver switches on-call from it.

    Raises:
        Forbidden: the caller's licence is not verified.
        ValidationFailed: a malformed schedule (``details.reasons.schedule`` =
            ``schedule_invalid``) or an unknown time zone (``time_zone_unknown``).
    """
    try:
        parsed = parse_schedule(schedule)
    except ScheduleError as exc:
        raise ValidationFailed(str(exc), fields={"schedule": str(exc)},
                               details={"reasons": {"schedule": "schedule_invalid"}}) from None
    try:
        parse_timezone(time_zone)
    except ScheduleError as exc:
        raise ValidationFailed(str(exc), fields={"time_zone": str(exc)},
                               details={"reasons": {"time_zone": "time_zone_unknown"}}) from None
    Physician.objects.filter(user_id=user_id).update(on_call_schedule=schedule_to_json(parsed),
                                                     time_zone=time_zone)


def physician_require_verified(*, user: User) -> Physician:
    """The caller's physician record, when they may write: an active account whose licence
    is verified. Every write path outside the socket (whose handshake already refuses the
    others) calls this first: posting a case, uploading an image, an on-call schedule.

    Raises:
        Forbidden: not logged in as an active physician, or the licence is pending,
            rejected or suspended.
    """
    physician = (Physician.objects.filter(user_id=user.pk).first()
                 if getattr(user, "pk", None) else None)
    if physician is None or not user.is_active or physician.licence_status != LicenceStatus.VERIFIED:
        raise Forbidden("Only physicians with a verified licence may do this.",
                        details={"licence": physician.licence_status if physician else "none"})
    return physician


# --- The physician's own profile (docs/web-client.md, "Profile") ------------------------------

# Extra specialties a profile may list besides the primary one.
MAX_EXTRA_SPECIALTIES = 10


def physician_profile_update(*, user_id: str, languages: list[str] | None = None,
                             specialties: list[str] | None = None) -> Physician:
    """Change the languages one consults in and the extra specialties (the primary specialty
    is the one the licence was checked with, and stays). ``None`` leaves a field as it is.

    Each refused field is named in ``fields`` (words) and ``details.reasons`` (a stable code:
    ``languages_empty``, ``language_unsupported``, ``specialty_unknown``,
    ``specialties_too_many``), so a client can say it in its own language.

    Raises:
        NotFound: no such physician.
        ValidationFailed: a field is refused; nothing changes.
    """
    physician = physician_get(user_id=user_id)
    fields: dict[str, str] = {}
    reasons: dict[str, str] = {}
    if languages is not None:
        bad = sorted(set(languages) - LANGUAGES)
        if not languages:
            fields["languages"], reasons["languages"] = "Choose at least one language.", "languages_empty"
        elif bad:
            fields["languages"] = f"Unsupported language codes: {', '.join(bad)}."
            reasons["languages"] = "language_unsupported"
    found: dict[str, Specialty] = {}
    if specialties is not None:
        wanted = [s for s in dict.fromkeys(specialties) if s != physician.primary_specialty.slug]
        found = {s.slug: s for s in Specialty.objects.filter(slug__in=wanted)}
        if missing := sorted(set(wanted) - set(found)):
            fields["specialties"] = f"Unknown specialties: {', '.join(missing)}."
            reasons["specialties"] = "specialty_unknown"
        elif len(wanted) > MAX_EXTRA_SPECIALTIES:
            fields["specialties"] = f"At most {MAX_EXTRA_SPECIALTIES} besides the primary one."
            reasons["specialties"] = "specialties_too_many"
    if fields:
        raise ValidationFailed("Some fields are invalid.", fields=fields,
                               details={"reasons": reasons})
    with outbox.atomic():
        if languages is not None:
            physician.languages = list(dict.fromkeys(languages))
            physician.save(update_fields=["languages"])  # the signal forgets the socket profile
        if specialties is not None:
            physician.specialties.set(list(found.values()))
    return physician


def password_change(*, user: User, current: str, new: str, client_ip: str | None) -> None:
    """Set a new password after checking the current one. Saving it ends every other session
    of the user and closes every socket of theirs with 4401 (physicians/signals.py); the
    caller keeps its own session (``update_session_auth_hash``) and reconnects.

    A wrong current password counts against the account's login limit, like a failed login.

    Raises:
        RateLimited: the account's login counter is locked.
        ValidationFailed: ``details.reasons`` names the field and a stable code:
            ``current_password`` → ``password_wrong``; ``new_password`` → ``password_same``
            or ``password_weak`` (Django's validators; ``fields`` gives their words).
    """
    email = physician_profile(physician=physician_get(user_id=str(user.pk))).email
    account = throttle.account_key(email)
    throttle.check(account)
    if not user.check_password(current):
        throttle.count(throttle.login_account_limit(), account)
        raise ValidationFailed("The current password is wrong.",
                               fields={"current_password": "The current password is wrong."},
                               details={"reasons": {"current_password": "password_wrong"}})
    if new == current:
        raise ValidationFailed("The new password is the current one.",
                               fields={"new_password": "Choose a password you do not use now."},
                               details={"reasons": {"new_password": "password_same"}})
    try:
        validate_password(new, user=user)
    except ValidationError as exc:
        raise ValidationFailed("The new password is too weak.",
                               fields={"new_password": " ".join(exc.messages)},
                               details={"reasons": {"new_password": "password_weak"}}) from None
    user.set_password(new)
    user.save(update_fields=["password"])
    log.info("password changed (user %s)", user.pk)
