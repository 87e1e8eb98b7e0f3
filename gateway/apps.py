from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"

    def ready(self) -> None:
        # Django's documented place to register system checks (AppConfig.ready).
        from gateway import checks  # noqa: F401
