from django.apps import AppConfig


class PhysiciansConfig(AppConfig):
    name = "physicians"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Models may be imported only once the app registry is ready (Django's rule): the
        # one deliberate import inside a function here (tools/lazy_imports.py lists it).
        from physicians import signals

        signals.connect()
