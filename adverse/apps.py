from django.apps import AppConfig


class AdverseConfig(AppConfig):
    name = "adverse"
    default_auto_field = "django.db.models.BigAutoField"
