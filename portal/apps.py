from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customers and fleets"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from portal import security, sessions  # noqa: F401  (security: the security log hears the sign-in signals)

        user_logged_in.connect(sessions.session_start, dispatch_uid="portal.sessions.session_start")
