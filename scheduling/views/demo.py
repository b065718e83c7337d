"""Re-arming `make run`'s live upgrade demo (administrators): a page that says what it does and
asks for confirmation, then the service (scheduling/services/demo.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from portal import access
from portal.pages import carry_out
from scheduling import selectors
from scheduling.services.demo import demo_rearm


@require_http_methods(["GET", "POST"])
@login_required
def demo_rearm_page(request):
    if not access.may_rearm_demo(request.user):
        raise Http404
    if request.method == "POST":
        outcome = {}

        def rearm():
            outcome["rearmed"] = rearmed = demo_rearm(by=request.user)
            return f"The demo is back at its start. {rearmed.lab}"

        if carry_out(request, rearm):
            run = outcome["rearmed"].run
            if run is None:
                messages.warning(request, "No engineer is free for today's window: the demo has no run.")
                return redirect("demo-rearm")
            return redirect("run-live", pk=run.pk)
        return redirect("demo-rearm")
    deployment, run = selectors.live_demo_get()
    return render(request, "scheduling/demo_rearm.html", {"deployment": deployment, "run": run})
