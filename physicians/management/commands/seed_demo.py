"""seed_demo: verified demo physicians across specialties and countries, one moderator and
one verifier. Idempotent: existing demo accounts are left as they are. The moderator and the
verifier sign in with a one-time code too (physicians/twofactor.py): they get an
authenticator enrolled, whose otpauth:// URI is printed with their login."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from crypto.personal import email_index
from physicians import services, twofactor
from physicians.models import User
from physicians.states import LicenceStatus

DEMO_PASSWORD = "curbside-demo-2026"
# (e-mail, first, last, country, jurisdiction, licence, specialty, languages, role)
DEMO = [
    ("ana.garcia@demo.curbside.test", "Ana", "García", "ES", "", "280212345",
     "cardiology", ("es", "en"), "physician"),
    ("james.chen@demo.curbside.test", "James", "Chen", "US", "CA", "1234567893",
     "cardiology", ("en",), "physician"),
    ("priya.patel@demo.curbside.test", "Priya", "Patel", "GB", "", "7012345",
     "emergency-medicine", ("en",), "physician"),
    ("lucia.hernandez@demo.curbside.test", "Lucía", "Hernández", "MX", "", "12345678",
     "pediatrics", ("es",), "physician"),
    ("tom.oconnor@demo.curbside.test", "Tom", "O'Connor", "IE", "", "412345",
     "neurology", ("en", "ga"), "physician"),
    ("sipho.dlamini@demo.curbside.test", "Sipho", "Dlamini", "ZA", "", "MP0123456",
     "internal-medicine", ("en", "zu"), "physician"),
    ("grace.wilson@demo.curbside.test", "Grace", "Wilson", "AU", "", "MED0001234567",
     "psychiatry", ("en",), "physician"),
    ("mod.rivera@demo.curbside.test", "Elena", "Rivera", "ES", "", "080123456",
     "family-medicine", ("es", "en"), "moderator"),
    ("verifier.smith@demo.curbside.test", "Alex", "Smith", "GB", "", "7054321",
     "family-medicine", ("en",), "verifier"),
]


class Command(BaseCommand):
    help = "Create demo physicians, a moderator and a verifier; print their logins."

    def handle(self, *args, **opts):
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, first, last, country, juris, licence, specialty, langs, role in DEMO:
            if not User.objects.filter(email_index=email_index(email)).exists():
                physician = services.physician_register(
                    data=services.Registration(
                        email=email, password=DEMO_PASSWORD, first_name=first, last_name=last,
                        country=country, jurisdiction=juris, licence_number=licence,
                        specialty=specialty, languages=langs,
                    ),
                    role=role,
                )
                if physician.licence_status == LicenceStatus.PENDING:
                    services.licence_decide(physician=physician, to_status=LicenceStatus.VERIFIED,
                                            by=None, backend="seed", reason="demo account")
            self.stdout.write(f"  {role:<10} {email:<38} {specialty}")
            user = User.objects.get(email_index=email_index(email))
            if twofactor.otp_required(user):
                # Demo accounts only: their authenticator is printed at every run, like
                # their published password (a real one is shown once: manage.py otp_enrol).
                device = twofactor.confirmed_device(user) or twofactor.pending_device(user)
                uri = (twofactor.otpauth_uri(device, label=email) if device is not None else
                       twofactor.enrol_by_administrator(user=user, label=email, replace=False))
                self.stdout.write(f"  {'':<10} authenticator: {uri}")
