"""`manage.py identitylab`: the demo organisations' identity providers on loopback (`make run`
starts it), registered as their sign-ons in the portal (portal/identity_lab/demo.py)."""

from aiohttp import web
from django.conf import settings
from django.core.management.base import BaseCommand

from portal.identity_lab import HOST
from portal.identity_lab.demo import SIGN_ONS, demo_lab


class Command(BaseCommand):
    help = "Serve the demo organisations' identity providers (OpenID Connect, SAML 2.0) on loopback."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.IDENTITY_LAB_PORT)

    def handle(self, *, port: int, **options):
        lab = demo_lab(port=port)
        for demo in SIGN_ONS:
            self.stdout.write(f"{demo.title} ({demo.protocol}) at http://127.0.0.1:{port}/{demo.key}")
        web.run_app(lab.application(), host=HOST, port=port, print=None, handle_signals=True)
