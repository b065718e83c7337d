from django import forms

from upgrades import evidence
from upgrades.choices import CheckOutcome, RequestState
from upgrades.models import Release


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(evidence.ACCEPTED)}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data]
        files = [upload for upload in files if upload]
        if len(files) > evidence.MAX_FILES_PER_ITEM:
            raise forms.ValidationError(f"Attach at most {evidence.MAX_FILES_PER_ITEM} files at a time.")
        return [super(MultipleFileField, self).clean(upload, initial) for upload in files]


class RequestForm(forms.Form):
    release = forms.ModelChoiceField(queryset=None, empty_label=None, widget=forms.RadioSelect)

    def __init__(self, *args, releases, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = Release.objects.filter(pk__in=[release.pk for release in releases])
        self.fields["release"].label_from_instance = lambda release: f"{release.version} ({release.get_kind_display().lower()})"


class EvidenceForm(forms.Form):
    text = forms.CharField(
        label="How this is met", required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Describe how this prerequisite is met"}),
    )
    files = MultipleFileField(
        label="Attach files", required=False,
        help_text=f"Optional. {evidence.accepted_extensions()}; up to 5 MB each, 20 MB at a time.",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class CheckOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(choices=CheckOutcome.choices, widget=forms.RadioSelect)
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class QueueFilterForm(forms.Form):
    state = forms.MultipleChoiceField(choices=RequestState.choices, required=False, widget=forms.CheckboxSelectMultiple)
    assignee = forms.ChoiceField(
        choices=[("", "Anyone"), ("me", "Me"), ("nobody", "Nobody")], required=False,
    )
    q = forms.CharField(required=False, max_length=100, label="Search")
