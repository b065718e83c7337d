from django.conf import settings
from django.core.management.base import BaseCommand

from portal import demo
from portal.embedded import data_dir
from scheduling import demo as scheduling_demo
from upgrades import demo as upgrades_demo


class Command(BaseCommand):
    help = "Load the demo customers, fleets and users (idempotent)."

    def handle(self, *args, **options):
        demo.seed()
        upgrades_demo.seed()
        scheduling_demo.seed()
        # `make run`'s window for today on Northwind's lab deployment, its run ready to start.
        run = scheduling_demo.seed_live_upgrade(lab_dir=data_dir() / "lab")
        if run is not None:
            self.stdout.write(f"Today's live upgrade: {settings.SITE_URL}/runs/{run.pk}/ (engineer@vendor.example starts it)")
        self.stdout.write(self.style.SUCCESS("Demo data is loaded. Every demo password is " + demo.PASSWORD))
        for email, who in demo.logins():
            self.stdout.write(f"  {email:32} {who}")
        self.stdout.write(f"Vendor staff also give a second factor: add the secret {demo.DEMO_TOTP_SECRET} (demo only) "
                          "to an authenticator app, or see the README's demo log-ins.")
