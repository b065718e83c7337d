from datetime import time

from django import forms

from scheduling.models.availability import WEEKDAYS


def _clock(attrs: dict | None = None) -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time", **(attrs or {})}, format="%H:%M")


class LowUsageHoursForm(forms.Form):
    """One quiet span per weekday, by the organisation's clock; a day left empty has none."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for weekday, name in WEEKDAYS:
            # The table's headings say the day and the end; each input still names itself in full.
            for end, word in (("starts", "from"), ("ends", "to")):
                label = f"{name} {word}"
                self.fields[f"{end}_{weekday}"] = forms.TimeField(label=label, required=False,
                                                                  widget=_clock(attrs={"aria-label": label}))

    def days(self):
        """(name, starts field, ends field) per weekday, for the template."""
        return [(name, self[f"starts_{weekday}"], self[f"ends_{weekday}"]) for weekday, name in WEEKDAYS]

    def clean(self):
        cleaned = super().clean()
        spans = []
        for weekday, name in WEEKDAYS:
            starts, ends = cleaned.get(f"starts_{weekday}"), cleaned.get(f"ends_{weekday}")
            if starts is None and ends is None:
                continue
            if starts is None or ends is None:
                self.add_error(f"starts_{weekday}" if starts is None else f"ends_{weekday}",
                               f"Give both times for {name}, or neither.")
            elif not (ends > starts or ends == time(0)):
                self.add_error(f"ends_{weekday}", f"{name}: the quiet hours must end after they start.")
            else:
                spans.append((weekday, starts, ends))
        cleaned["spans"] = spans
        return cleaned

    @classmethod
    def initial_from(cls, rows) -> dict:
        initial = {}
        for row in rows:
            # One span a day on this form; the first of the day stands for it.
            initial.setdefault(f"starts_{row.weekday}", row.starts)
            initial.setdefault(f"ends_{row.weekday}", row.ends)
        return initial


class StatusPageForm(forms.Form):
    service_name = forms.CharField(
        label="Service name", max_length=120,
        help_text="What your users call the service, as they will read it on the page and in mails.",
    )
    enabled = forms.BooleanField(label="Status page switched on", required=False)


class SubscribeForm(forms.Form):
    email = forms.EmailField(label="Your e-mail address", max_length=254)
