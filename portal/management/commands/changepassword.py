import getpass

from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from portal import services
from portal.models import User

TRIES = 3


class Command(changepassword.Command):
    """Django's changepassword, asking the same questions, whose new password is set through
    `services.password_set`: the person's API tokens, other sessions and calendar feed end with
    the old one, as they do when the password is changed on the pages."""

    help = "Change a person's password: their API tokens, sessions and calendar feed end with the old one."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", help="The person's e-mail address; by default, the current user.")

    def handle(self, *args, **options):
        email = options["username"] or getpass.getuser()
        try:
            user = User.objects.get(email=email)
        except User.DoesNotExist:
            raise CommandError(f"user '{email}' does not exist") from None
        self.stdout.write(f"Changing password for user '{user}'")
        for _ in range(TRIES):
            password = self._get_pass()
            if password != self._get_pass("Password (again): "):
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                validate_password(password, user)
            except ValidationError as error:
                self.stderr.write("\n".join(error.messages))
                continue
            services.password_set(user=user, password=password, by=None)
            return (f"Password changed successfully for user '{user}'; their API tokens, other sessions "
                    "and calendar feed are ended.")
        raise CommandError(f"Aborting password change for user '{user}' after {TRIES} attempts")
