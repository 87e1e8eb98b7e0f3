"""The operator commands: ``createphysician`` and ``seed_demo`` (through call_command)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from crypto.personal import email_index
from physicians import selectors
from physicians.management.commands.seed_demo import DEMO, DEMO_PASSWORD
from physicians.models import LicenceDecision, Physician, Role, User
from physicians.states import LicenceStatus

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def run(*args: str, stdin: str = PASSWORD + "\n") -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if args[0] == "createphysician" else {}
    call_command(*args, stdout=out, **extra)
    return out.getvalue()


def createphysician(*extra: str, email: str = "rosa.diaz@example.test",
                    licence: str = "7034567", stdin: str = PASSWORD + "\n") -> str:
    return run("createphysician", "--email", email, "--password-stdin",
               "--name", "Dr. Rosa María Díaz", "--specialty", "neurology", "--country", "GB",
               "--license", licence, "--languages", "es, en", *extra, stdin=stdin)


def physician_of(email: str) -> Physician:
    return Physician.objects.select_related("user", "primary_specialty").get(
        user__email_index=email_index(email))


# --- createphysician ----------------------------------------------------------------------------


def test_createphysician_reads_the_password_from_stdin_never_the_command_line(specialties):
    createphysician("--verified")
    assert authenticate(email="rosa.diaz@example.test", password=PASSWORD) is not None
    with pytest.raises(CommandError):  # the old flag is gone: argparse refuses it
        run("createphysician", "--email", "b@example.test", "--password", PASSWORD,
            "--name", "Ann Lee", "--specialty", "neurology", "--country", "GB",
            "--license", "7034568")


def test_createphysician_without_a_terminal_or_password_stdin_refuses(specialties):
    with pytest.raises(CommandError) as info:
        run("createphysician", "--email", "b@example.test", "--name", "Ann Lee",
            "--specialty", "neurology", "--country", "GB", "--license", "7034568")
    assert "--password-stdin" in str(info.value)
    with pytest.raises(CommandError) as info:
        createphysician(stdin="\n")
    assert "empty" in str(info.value)
    assert not User.objects.exists()

def test_createphysician_verified_moderator(specialties):
    out = createphysician("--verified", "--role", "moderator")
    physician = physician_of("rosa.diaz@example.test")
    assert out.split() == [str(physician.user_id), "verified", "moderator"]
    assert physician.licence_status == LicenceStatus.VERIFIED
    assert physician.user.role == Role.MODERATOR and physician.user.is_moderator
    assert not physician.user.is_verifier
    decision = LicenceDecision.objects.get(physician=physician)
    assert (decision.from_status, decision.to_status, decision.backend) == (
        "pending", "verified", "cli")
    profile = selectors.physician_profile(physician=physician)
    # "Dr." is a title, not a name; the last word is the last name.
    assert (profile.first_name, profile.last_name) == ("Rosa María", "Díaz")
    assert profile.languages == ["es", "en"] and profile.specialty == "neurology"
    # The account logs in with what the operator typed.
    assert authenticate(None, email="Rosa.Diaz@example.test", password=PASSWORD).pk \
        == physician.user_id
    assert selectors.socket_refusal(physician.user) is None


def test_createphysician_without_verified_stays_pending(specialties):
    out = createphysician()
    physician = physician_of("rosa.diaz@example.test")
    assert out.split()[1:] == ["pending", "physician"]
    assert physician.licence_status == LicenceStatus.PENDING
    assert physician.user.role == Role.PHYSICIAN


def test_createphysician_with_a_malformed_licence_names_the_field(specialties):
    with pytest.raises(CommandError) as info:
        createphysician("--verified", licence="12345")
    assert "licence_number" in str(info.value)
    assert "7 digits" in str(info.value)
    assert not User.objects.exists()


def test_createphysician_with_an_unknown_specialty_names_the_field(specialties):
    with pytest.raises(CommandError) as info:
        run("createphysician", "--email", "a@example.test", "--password-stdin",
            "--name", "Ann Lee", "--specialty", "astrology", "--country", "GB",
            "--license", "7034567")
    assert "specialty" in str(info.value)


def test_createphysician_twice_is_a_conflict_on_the_email(specialties):
    createphysician()
    with pytest.raises(CommandError) as info:
        createphysician(licence="7099999")
    assert "email" in str(info.value)
    assert User.objects.count() == 1


def test_createphysician_needs_a_first_and_last_name(specialties):
    with pytest.raises(CommandError) as info:
        run("createphysician", "--email", "a@example.test", "--password-stdin",
            "--name", "Dr. Madonna", "--specialty", "neurology", "--country", "GB",
            "--license", "7034567")
    assert "--name" in str(info.value)


def test_createphysician_refuses_an_unknown_role(specialties):
    with pytest.raises(CommandError):
        createphysician("--role", "superuser")
    assert not User.objects.exists()


# --- seed_demo ---------------------------------------------------------------------------------

def demo_emails(role: str | None = None) -> list[str]:
    return [row[0] for row in DEMO if role is None or row[-1] == role]


def test_seed_demo_creates_verified_doctors_a_moderator_and_a_verifier(specialties):
    out = run("seed_demo")
    assert DEMO_PASSWORD in out
    for email in demo_emails():
        assert email in out
    physicians = [physician_of(email) for email in demo_emails()]
    assert len(physicians) >= 3
    assert all(p.licence_status == LicenceStatus.VERIFIED for p in physicians)
    roles = sorted(p.user.role for p in physicians)
    assert roles.count("moderator") == 1 and roles.count("verifier") == 1
    assert set(roles) == {"physician", "moderator", "verifier"}
    # Spanish is first-class: at least one demo doctor speaks only Spanish.
    assert any(p.languages == ["es"] for p in physicians)
    # Several countries, so licence formats are exercised.
    assert len({p.country for p in physicians}) >= 5
    # Every printed login works with the printed password, and may open a socket.
    for email in demo_emails():
        user = authenticate(None, email=email, password=DEMO_PASSWORD)
        assert user is not None, email
        assert selectors.socket_refusal(user) is None


def test_seed_demo_is_idempotent(specialties):
    first = run("seed_demo")
    ids = sorted(str(p) for p in Physician.objects.values_list("pk", flat=True))
    decisions = LicenceDecision.objects.count()
    second = run("seed_demo")
    assert sorted(str(p) for p in Physician.objects.values_list("pk", flat=True)) == ids
    assert LicenceDecision.objects.count() == decisions == len(demo_emails())
    assert second == first  # still prints the logins


def test_seed_demo_leaves_changed_demo_accounts_alone(specialties):
    from physicians import services

    run("seed_demo")
    suspended = physician_of(demo_emails("physician")[0])
    services.licence_decide(physician=suspended, to_status=LicenceStatus.SUSPENDED, by=None,
                            backend="test", reason="testing")
    run("seed_demo")
    assert physician_of(demo_emails("physician")[0]).licence_status == LicenceStatus.SUSPENDED
