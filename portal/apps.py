from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customers and fleets"

    def ready(self):
        from portal import second_factor  # noqa: F401  (logs the second factor's events)
