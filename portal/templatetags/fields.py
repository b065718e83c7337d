"""`{% field_row form "hostname" "address" %}`: a form's fields side by side, one grid row."""

from django import template
from django.forms import BaseForm

register = template.Library()


@register.inclusion_tag("portal/partials/field_row.html")
def field_row(form: BaseForm, *names: str) -> dict:
    return {"fields": [form[name] for name in names]}
