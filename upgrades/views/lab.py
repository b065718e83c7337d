"""The lab fleet of a demo deployment (staff): its members and the faults to inject."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal import access
from upgrades import demo, selectors
from upgrades.fleet import lab_control_of
from upgrades.lab.control import LabError
from upgrades.services import lab


LAB_FAULTS = [
    ("fail_next", "Fail next operation"), ("hang", "Hang next operation"), ("slow_health", "Slow health"),
    ("crash", "Crash"), ("break_repository", "Break repository"), (lab.CLEAR, "Clear faults"),
]


@require_GET
@login_required
def lab_fleet(request, pk: int):
    """A deployment's lab fleet as its load balancer sees it, with buttons that break it."""
    deployment = selectors.lab_deployment_get(user=request.user, pk=pk)
    control = lab_control_of(deployment)
    status, problem = None, ""
    if control is None:
        problem = "This deployment is not simulated by the lab fleet: its service address is not a loopback port."
    else:
        try:
            status = control.status()
        except LabError as error:
            problem = f"{error}. Is `manage.py labfleet` running?"
    # `make run`'s live upgrade demo: administrators may put it back at its start (scheduling's page).
    rearm = (access.may_rearm_demo(request.user) and deployment.name == demo.LIVE_DEMO_NAME
             and deployment.organisation.slug == demo.LIVE_DEMO_ORGANISATION)
    context = {"deployment": deployment, "status": status, "problem": problem, "faults": LAB_FAULTS, "rearm": rearm}
    template = "upgrades/lab_fleet.html#members" if request.htmx else "upgrades/lab_fleet.html"
    return render(request, template, context)


@require_POST
@login_required
def lab_fault(request, pk: int):
    deployment = selectors.lab_deployment_get(user=request.user, pk=pk)
    hostname, fault = request.POST.get("hostname", ""), request.POST.get("fault", "")
    try:
        lab.lab_fault_inject(deployment=deployment, hostname=hostname, fault=fault, by=request.user)
    except LabError as error:
        messages.error(request, str(error))
    else:
        label = dict(LAB_FAULTS)[fault]
        messages.success(request, f"{label}: done on {hostname}.")
    return redirect("lab-fleet", pk=deployment.pk)
