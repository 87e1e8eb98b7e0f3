from django.apps import AppConfig


class ConsultConfig(AppConfig):
    name = "consult"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `manage.py keys rewrap` must also rewrap each user's personal-data key.
        from consult.models import User
        from crypto import personal
        from crypto.rotation import register_wrapped_field

        register_wrapped_field(
            "consult.user.personal_key",
            model=User, field="personal_key", purpose="personal",
            owner=lambda row: str(row.pk),
            rewrap=personal.rewrap_personal_key,
        )
