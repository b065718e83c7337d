from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customers and fleets"

    def ready(self):
        from portal import security  # noqa: F401  (connects the security log to the sign-in signals)
