"""Releases and what changes for a deployment between its version and a release."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.pages import carry_out
from upgrades import selectors, selectors_homes
from upgrades.markdown import render as render_markdown
from upgrades.services import releases


@require_GET
@login_required
def release_list(request):
    return render(request, "upgrades/release_list.html", {"releases": selectors.release_list(user=request.user)})


@require_GET
@login_required
def release_detail(request, version: str):
    release = selectors.release_get(user=request.user, version=version)
    return render(request, "upgrades/release_detail.html", {
        "release": release, "notes": render_markdown(release.notes),
        "offered": selectors_homes.deployments_offered(user=request.user, release=release),
    })


@require_POST
@login_required
def release_publish(request, version: str):
    release = selectors.release_get(user=request.user, version=version)
    carry_out(request, lambda: releases.release_publish(release=release, by=request.user),
              done=f"{release} is published: customers can read it and request it.")
    return redirect("release-detail", version=release.version)


@require_GET
@login_required
def deployment_changes(request, pk: int, version: str):
    """What changes for you: every release between the deployment's version and the target."""
    deployment = selectors.deployment_for_request(user=request.user, pk=pk)
    target = selectors.release_get(user=request.user, version=version)
    between = selectors.releases_between(current=deployment.cloudpaging_version, target=target)
    return render(
        request, "upgrades/deployment_changes.html",
        {
            "deployment": deployment, "target": target,
            "releases": [(release, render_markdown(release.notes)) for release in between],
        },
    )
