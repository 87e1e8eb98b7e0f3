from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "crypto"
    default_auto_field = "django.db.models.BigAutoField"
