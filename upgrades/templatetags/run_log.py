"""How a line of a run's deployment log reads, wherever it is shown: on the live page's first
load and its older lines (`{% log_line line %}`), and in the live events that append each new
line as it is printed (upgrades/fragments.py).

A busy installer prints thousands of lines a second and every web process shows each of them to
its watchers, so a line is put together here, once, rather than by the template engine (about
twenty times the cost a line)."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def clock(at: datetime) -> str:
    """The time of day `at` in the current time zone, as the log shows it: 14:03:07."""
    return timezone.localtime(at).strftime("%H:%M:%S")


def line_html(*, seq: int, text: str, clock: str) -> SafeString:
    """One line of the log as the list item the page holds: its number (where the page is, for
    the older lines and the reconnection), its time (`clock`) and its text, escaped."""
    return mark_safe(f'<li data-seq="{seq}"><time>{clock}</time> {escape(text)}</li>')


@register.simple_tag
def log_line(line) -> SafeString:
    """`line` (a `log` LiveEvent) as the log shows it."""
    return line_html(seq=line.seq, text=line.text, clock=clock(line.at))
