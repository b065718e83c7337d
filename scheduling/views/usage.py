from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from portal import access
from portal.selectors import organisation_get
from scheduling.forms import LowUsageHoursForm
from scheduling.services.usage import low_usage_hours_set


@require_http_methods(["GET", "POST"])
@login_required
def low_usage_hours(request, slug: str):
    """The customer says when their users are quietest; booking pages highlight those slots."""
    organisation = organisation_get(user=request.user, slug=slug)
    if not access.may_edit_contacts(request.user, organisation):
        raise Http404
    rows = organisation.low_usage_hours.all()
    form = LowUsageHoursForm(request.POST or None, initial=LowUsageHoursForm.initial_from(rows))
    if request.method == "POST" and form.is_valid():
        low_usage_hours_set(organisation=organisation, spans=form.cleaned_data["spans"], by=request.user)
        messages.success(request, "Your low-usage hours are saved: booking pages now highlight slots inside them.")
        return redirect("organisation-detail", slug=organisation.slug)
    return render(request, "scheduling/low_usage_hours.html", {"organisation": organisation, "form": form},
                  status=400 if form.errors else 200)
