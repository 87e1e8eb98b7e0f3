"""Physicians, their licences and the specialty taxonomy.

Personal data (e-mail, names, licence number) is stored only sealed under the user's
personal-data key (crypto/personal.py); the e-mail and licence number are found through
blind indexes. Country, jurisdiction, specialties and languages stay in the clear because
routing needs them in queries.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models

from crypto import personal
from physicians.states import LicenceStatus


class Role(models.TextChoices):
    PHYSICIAN = "physician", "Physician"
    MODERATOR = "moderator", "Moderator"
    VERIFIER = "verifier", "Verifier"
    ADMIN = "admin", "Admin"


class UserManager(BaseUserManager):
    # Accounts are created only through physicians.services.physician_register.
    use_in_migrations = True


class User(AbstractBaseUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # HMAC(K_index, normalized e-mail): the login lookup, never the address itself.
    email_index = models.CharField(max_length=64, unique=True)
    # The personal-data key, wrapped under the 'personal' KEK. NULL after erasure.
    personal_key = models.BinaryField(null=True)
    email_sealed = models.BinaryField(null=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PHYSICIAN)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "email_index"
    REQUIRED_FIELDS: list[str] = []
    objects = UserManager()

    def __str__(self) -> str:  # never the e-mail: it may reach a log line
        return f"user:{self.pk}"

    @property
    def is_moderator(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)

    @property
    def is_verifier(self) -> bool:
        return self.role in (Role.VERIFIER, Role.ADMIN)


class Specialty(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=120)
    name_es = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "specialties"

    def __str__(self) -> str:
        return self.slug

    def name(self, language: str = "en") -> str:
        return self.name_es if language.startswith("es") else self.name_en


class Physician(models.Model):
    user = models.OneToOneField(
        User, primary_key=True, on_delete=models.CASCADE, related_name="physician"
    )
    display_name_sealed = models.BinaryField(null=True)
    real_name_sealed = models.BinaryField(null=True)
    licence_number_sealed = models.BinaryField(null=True)
    # HMAC(K_index, country ‖ normalized licence number): one account per licence.
    licence_index = models.CharField(max_length=64, unique=True)
    country = models.CharField(max_length=2)
    jurisdiction = models.CharField(max_length=64, blank=True, default="")
    primary_specialty = models.ForeignKey(
        Specialty, on_delete=models.PROTECT, related_name="primary_physicians"
    )
    specialties = models.ManyToManyField(Specialty, blank=True, related_name="physicians")
    languages = models.JSONField(default=list)
    licence_status = models.CharField(
        max_length=16, choices=LicenceStatus.choices, default=LicenceStatus.PENDING
    )
    status_changed_at = models.DateTimeField(auto_now_add=True)
    # On call for urgent cases (set over the socket with presence.set; kept across sessions).
    on_call = models.BooleanField(default=False)
    # Weekly on-call windows in the physician's time zone (physicians/oncall.py's format).
    on_call_schedule = models.JSONField(default=list, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")

    class Meta:
        indexes = [models.Index(fields=["licence_status"])]

    def __str__(self) -> str:
        return f"physician:{self.user_id}"

    @property
    def is_verified(self) -> bool:
        return self.licence_status == LicenceStatus.VERIFIED


def licence_reason_field(decision_id: int) -> str:
    """The personal-field name a decision's reason is sealed under (binds it to its row)."""
    return f"licence_reason:{decision_id}"


class LicenceDecision(models.Model):
    """One row per licence status change: who decided, when, why, and through which backend.

    The why is free text (a verifier's words, a backend's outcome), so it is stored only
    sealed under the physician's personal key (``reason_sealed``, physicians/services.py):
    erasing the physician shreds it with the rest of their personal data.
    """

    physician = models.ForeignKey(Physician, on_delete=models.CASCADE, related_name="decisions")
    from_status = models.CharField(max_length=16, choices=LicenceStatus.choices)
    to_status = models.CharField(max_length=16, choices=LicenceStatus.choices)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    backend = models.CharField(max_length=32)
    reason_sealed = models.BinaryField(null=True, blank=True)  # NULL: no reason given
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "id"]

    @property
    def reason(self) -> str:
        """The reason, opened with the physician's personal key; ``""`` when none was given
        or the physician was erased (the key is gone)."""
        opened = self.__dict__.get("_reason_opened")
        if opened is None:
            opened = self._reason_open()
            self.__dict__["_reason_opened"] = opened
        return opened

    def reason_remember(self, value: str) -> None:
        """Cache the plain reason just sealed, so the caller does not open it again."""
        self.__dict__["_reason_opened"] = value

    def _reason_open(self) -> str:
        if not self.reason_sealed:
            return ""
        owner = str(self.physician_id)  # a physician's pk is its user id
        wrapped = User.objects.filter(pk=owner).values_list("personal_key", flat=True).first()
        if wrapped is None:
            return ""
        key = personal.unwrap_personal_key(owner, bytes(wrapped))
        return personal.open_field(key, owner, licence_reason_field(self.pk),
                                   bytes(self.reason_sealed))


class RegistryEntry(models.Model):
    """One licence from an imported public registry file (e.g. the US NPPES NPI file).

    Stored by blind index only, so a dump of this table does not list licence numbers of
    physicians who signed up; matching recomputes the same indexes from the claim.
    """

    country = models.CharField(max_length=2)
    licence_index = models.CharField(max_length=64)
    name_index = models.CharField(max_length=64)
    jurisdiction = models.CharField(max_length=64, blank=True, default="")
    source = models.CharField(max_length=120)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["country", "licence_index"])]


class AuthThrottle(models.Model):
    """One counter of the login and sign-up limits (physicians/throttle.py): a scope and a
    keyed hash of what is counted — an account's e-mail blind index or a client address —
    never the address or the e-mail itself. In the database so every process shares it."""

    key = models.CharField(max_length=96, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True)
    locked_until = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["last_failure_at"])]
