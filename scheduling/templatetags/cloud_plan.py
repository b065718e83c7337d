"""A cloud customer's plan (S3), shown on their own upgrade pages."""

from django import template

from scheduling.announcement import service_notice
from scheduling.services.cloud import cloud_windows_for

register = template.Library()


@register.inclusion_tag("scheduling/partials/cloud_plan_customer.html", takes_context=True)
def cloud_plan_for_customer(context, upgrade=None):
    """The coming cloud windows of the user's organisation (or of one upgrade), each with the
    S6 notice its users will be sent, by the organisation's clock."""
    windows = cloud_windows_for(user=context["user"])
    if upgrade is not None:
        windows = [window for window in windows if window.request_id == upgrade.pk]
    return {
        "entries": [
            {"window": window, "zone": window.request.deployment.organisation.time_zone,
             "notice": service_notice(window=window, zone=window.request.deployment.organisation.time_zone)}
            for window in windows
        ],
        "single": upgrade is not None,
    }
