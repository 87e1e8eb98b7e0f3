from django.apps import AppConfig


class ConsultConfig(AppConfig):
    name = "consult"
    default_auto_field = "django.db.models.BigAutoField"
