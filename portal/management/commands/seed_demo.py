from django.core.management.base import BaseCommand

from portal import demo
from scheduling import demo as scheduling_demo
from upgrades import demo as upgrades_demo


class Command(BaseCommand):
    help = "Load the demo customers, fleets and users (idempotent)."

    def handle(self, *args, **options):
        demo.seed()
        upgrades_demo.seed()
        scheduling_demo.seed()
        self.stdout.write(self.style.SUCCESS("Demo data is loaded. Every demo password is " + demo.PASSWORD))
        for email, who in demo.logins():
            self.stdout.write(f"  {email:32} {who}")
