from importlib import import_module

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customers and fleets"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        # The Celery app tasks are sent with, in every process Django runs in; not imported by
        # the package itself, which the supervisor and the mail sink import without Celery.
        import_module("portal.celery")

        # Imported for their receivers: the security log hears the sign-in's and the second
        # factor's signals.
        from portal import second_factor, security, sessions  # noqa: F401

        user_logged_in.connect(sessions.session_start, dispatch_uid="portal.sessions.session_start")
