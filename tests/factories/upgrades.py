"""Releases, upgrade requests and runs."""

from datetime import date

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from tests.factories.portal import CustomerUserFactory, DeploymentFactory, SupportUserFactory
from upgrades.choices import ReleaseState, RequestState
from upgrades.models import Release, Run, UpgradeRequest
from upgrades.services import plans
from upgrades.services.releases import kind_of_new_version


class ReleaseFactory(DjangoModelFactory):
    """A published release above the demo's, its kind judged against the releases there are."""

    class Meta:
        model = Release

    version = factory.Sequence(lambda n: f"11.{n}.0")
    kind = factory.LazyAttribute(lambda release: kind_of_new_version(release.version))
    release_date = factory.LazyFunction(date.today)
    openjdk_version = "21.0.5"
    tomcat_version = "10.1.31"
    notes = "## Fixes\n- Small fixes."
    state = ReleaseState.PUBLISHED
    published_at = factory.LazyFunction(timezone.now)


class UpgradeRequestFactory(DjangoModelFactory):
    """A request written directly as a row, without its checklist (the request's own moves have
    stories of their own, through `upgrades.services.requests`). A draft by one of the
    deployment's customer users, unless a trait says otherwise:

    - `approved`: support approved it; a window can be booked;
    - `in_review`: support (`assignee`) reviews it; its prerequisite check can be booked.
    """

    class Meta:
        model = UpgradeRequest

    class Params:
        approved = factory.Trait(state=RequestState.APPROVED)
        in_review = factory.Trait(state=RequestState.IN_REVIEW, assignee=factory.SubFactory(SupportUserFactory))

    deployment = factory.SubFactory(DeploymentFactory)
    release = factory.SubFactory(ReleaseFactory)
    from_version = factory.SelfAttribute("deployment.cloudpaging_version")
    kind = factory.SelfAttribute("release.kind")
    requested_by = factory.SubFactory(CustomerUserFactory,
                                      contact__organisation=factory.SelfAttribute("...deployment.organisation"))
    state = RequestState.DRAFT


class RunFactory(DjangoModelFactory):
    """The run of a confirmed window, made by the service that makes it (`plans.run_create`):
    its plan frozen into steps, its first live event saying so. Fields given beside the window
    are then written over the run (`state=RunState.RUNNING`); `plan_event=False` forgets that
    first event, for the stories that count a run's events from 1."""

    class Meta:
        model = Run

    window = factory.SubFactory("tests.factories.scheduling.MaintenanceWindowFactory")
    plan_event = True

    @classmethod
    def _create(cls, model_class, *, window, plan_event, **fields):
        run = plans.run_create(window=window)
        if not plan_event:
            run.live_events.all().delete()
            fields["next_seq"] = 1
        if fields:
            model_class.objects.filter(pk=run.pk).update(**fields)
            run.refresh_from_db()
        return run
