"""What the drivers need beyond the server rows: a deployment's SSH command templates."""

import pghistory
from django.db import models

from portal.models import Deployment
from portal.models.customers import audited


def _template(label: str) -> models.CharField:
    return models.CharField(label, max_length=500, blank=True, help_text="Empty: the vendor's default command.")


@pghistory.track(*audited())
class CommandTemplates(models.Model):
    """The commands the SSH driver runs on a deployment's servers, one per operation. `{hostname}`,
    `{role}`, and for the installation `{cloudpaging}`, `{openjdk}`, `{tomcat}` are filled in
    (shell-quoted). Output conventions: `upgrades.drivers.ssh`."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="command_templates")
    stop = _template("Stop services")
    start = _template("Start services")
    install = _template("Install a version")
    configure = _template("Configure")
    upgrade_database = _template("Upgrade the database")
    uninstall = _template("Uninstall")
    reboot = _template("Reboot")
    health = _template("Health")
    versions = _template("Versions")
    repository = _template("Repository validation")

    organisation_path = "deployment__organisation"

    class Meta:
        verbose_name = "SSH command templates"
        verbose_name_plural = "SSH command templates"

    def __str__(self) -> str:
        return f"SSH commands of {self.deployment}"

    def as_commands(self) -> dict[str, str]:
        """Operation name -> template, for the templates that are set."""
        fields = ("stop", "start", "install", "configure", "upgrade_database", "uninstall", "reboot",
                  "health", "versions", "repository")
        return {name.replace("_", "-"): getattr(self, name) for name in fields if getattr(self, name)}
