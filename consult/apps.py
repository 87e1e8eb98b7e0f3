from django.apps import AppConfig


class ConsultConfig(AppConfig):
    name = "consult"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from consult import signals

        signals.connect()
