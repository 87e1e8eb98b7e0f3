from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "crypto"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crypto.rotation import register_builtin

        register_builtin()
