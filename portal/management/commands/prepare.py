"""`manage.py prepare`: what `make run` does before it starts its processes, in one process.

1. Applies the migrations not yet applied. When every migration on disk is recorded as applied
   (a warm start), `migrate` is not run at all: the names are compared without loading a single
   migration.
2. Loads the demo (`manage.py demo`) when the database has none. Data already there is left as
   people left it: re-arming the live upgrade demo is `manage.py demo --rearm`, or the button on
   its lab fleet page.
"""

import pkgutil
from importlib import import_module

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from portal import demo


def migrations_unapplied() -> bool:
    """Whether a migration file of an installed app is not recorded as applied."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return True
    applied = set(recorder.applied_migrations())
    for app_config in apps.get_app_configs():
        module_name, _ = MigrationLoader.migrations_module(app_config.label)
        try:
            module = import_module(module_name) if module_name else None
        except ModuleNotFoundError:
            continue
        if module is None or not hasattr(module, "__path__"):
            continue
        names = {name for _, name, is_package in pkgutil.iter_modules(module.__path__)
                 if not is_package and name[0] not in "_~"}
        if any((app_config.label, name) not in applied for name in names):
            return True
    return False


class Command(BaseCommand):
    help = "Apply the migrations not yet applied, and load the demo when the database has none (make run)."

    def handle(self, *args, **options):
        if migrations_unapplied():
            call_command("migrate", interactive=False, stdout=self.stdout, stderr=self.stderr)
        else:
            self.stdout.write("The database is up to date: no migration to apply.")
        if demo.loaded():
            self.stdout.write("The demo data is there: left as it is (`manage.py demo --rearm` re-arms the live upgrade).")
        else:
            call_command("demo", stdout=self.stdout, stderr=self.stderr)
