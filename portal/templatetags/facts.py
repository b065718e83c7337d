"""How a fact reads on a page: an address that wraps at its punctuation rather than inside a
word, and a duration in hours and minutes."""

import re
from datetime import timedelta

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Where an address may wrap (as typographers break URLs): after "//" and ":", before the other
# punctuation, so each line starts with the mark that says it goes on.
_AFTER = re.compile(r"(//|:)")
_BEFORE = re.compile(r"(?<!/)(?<!^)(?=[./~,\-_?#%&=])")


@register.filter
def breakable(address: str) -> SafeString:
    """`address`, escaped, with <wbr> where a line may end."""
    pieces = []
    for part in _AFTER.split(address or ""):
        if _AFTER.fullmatch(part):
            pieces.append(escape(part) + "<wbr>")
        else:
            pieces.append("<wbr>".join(escape(chunk) for chunk in _BEFORE.split(part)))
    return mark_safe("".join(pieces))


@register.filter
def hours_minutes(length: timedelta | None) -> str:
    """1 h 35 min, 40 min; empty without a length."""
    if length is None:
        return ""
    minutes = max(0, round(length.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
