"""`manage.py demo`: load the demo world (what is missing of it; nothing already there changes).
`manage.py demo --rearm`: put the live upgrade demo back at its start (scheduling/services/demo.py).
`make run` loads the demo at its first start only, and never re-arms it."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from portal import demo
from portal.embedded import data_dir
from portal.workflow import WorkflowError
from scheduling import demo as scheduling_demo
from scheduling.services.demo import demo_rearm


class Command(BaseCommand):
    help = "Load the demo customers, fleets, users and live upgrade (what is missing); --rearm puts the live upgrade back at its start."

    def add_arguments(self, parser):
        parser.add_argument("--rearm", action="store_true",
                            help="put the live upgrade demo back at its start: its deployment on 9.4.2, a new "
                                 "approved request, today's window and a run ready to start, the lab servers reset")

    def handle(self, *args, rearm: bool, **options):
        if rearm:
            return self._rearm()
        with transaction.atomic():  # all of it or nothing: `make run` loads it when none is there
            scheduling_demo.seed_world()
            run = scheduling_demo.seed_live_upgrade(lab_dir=data_dir() / "lab")
        if run is not None:
            self.stdout.write(f"The live upgrade demo: {settings.SITE_URL}/runs/{run.pk}/ ({run.get_state_display().lower()})")
        self.stdout.write(self.style.SUCCESS("Demo data is loaded. Every demo password is " + demo.PASSWORD))
        for email, who in demo.logins():
            self.stdout.write(f"  {email:32} {who}")
        self.stdout.write(f"Vendor staff also give a second factor: add the secret {demo.DEMO_TOTP_SECRET} (demo only) "
                          "to an authenticator app, or see the README's demo log-ins.")

    def _rearm(self):
        try:
            rearmed = demo_rearm(by=None)
        except WorkflowError as error:
            raise CommandError(str(error)) from None
        if rearmed.run is None:
            raise CommandError("The demo was re-armed, but no engineer is free for today's window.")
        self.stdout.write(self.style.SUCCESS(
            f"The live upgrade demo is back at its start: {settings.SITE_URL}/runs/{rearmed.run.pk}/ "
            "(engineer@vendor.example starts it)."))
        self.stdout.write(rearmed.lab)
