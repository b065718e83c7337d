from django.core.management.base import BaseCommand

from portal import services


class Command(BaseCommand):
    help = "Re-encrypt every stored server credential with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        count = services.credentials_rotate()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} credential(s) with the newest key."))
