"""What the failure and rollback stories share: Northwind's window open now on its lab fleet, the
run started by the engineer, and the people confirming the checks as a real worker reaches them."""

from portal.models import Deployment, Notice, User
from tests.conftest import wait_for
from tests.upgrades.runs import open_run
from upgrades.choices import RunState, StepState
from upgrades.models import Release, Run, Step
from upgrades.procedure import StepKind

GROUP_1 = ("cpadmin01.northwind.example", "cpstream01.northwind.example")
GROUP_2 = ("cpadmin02.northwind.example", "cpstream02.northwind.example")
ADMIN_1, STREAM_1 = GROUP_1
ADMIN_2, STREAM_2 = GROUP_2


def make_run(*, deployment: Deployment, version: str, by: User, hours: float = 3) -> Run:
    return open_run(deployment=deployment, release=Release.objects.get(version=version), by=by, hours=hours)


def step(run: Run, key: str, procedure: str = "upgrade") -> Step:
    return Step.objects.get(run=run, key=key, procedure=procedure)


def steps_in(run: Run, procedure: str) -> list[Step]:
    return list(Step.objects.filter(run=run, procedure=procedure).order_by("position"))


def fresh(run: Run) -> Run:
    return Run.objects.get(pk=run.pk)


def drive(run: Run, *, engineer: User, customer: User, until, timeout: float = 30.0) -> Run:
    """Confirm each functionality-test step as it waits (the engineer and the customer's side),
    until `until(run)` holds."""
    from upgrades.services.runs import step_confirm

    def progressed():
        current = fresh(run)
        if until(current):
            return current
        waiting = Step.objects.filter(run=run, state=StepState.WAITING, kind=StepKind.CHECKS).first()
        if waiting is not None:
            if waiting.confirmed_by_engineer_id is None:
                step_confirm(step=waiting, by=engineer)
            if waiting.performer == "engineer_and_admin" and Step.objects.get(pk=waiting.pk).state == StepState.WAITING:
                step_confirm(step=waiting, by=customer)
        return None

    return wait_for(progressed, timeout=timeout)


def paused(run: Run) -> bool:
    return run.state == RunState.PAUSED


def waiting_for_sign_off(run: Run) -> bool:
    return Step.objects.filter(run=run, kind=StepKind.SIGN_OFF, state=StepState.WAITING).exists()


def lab_versions(lab) -> dict[str, str]:
    return {server.hostname: lab.state(server.hostname).versions["cloudpaging"] for server in lab.spec.servers}


def serving(lab, hostnames) -> bool:
    members = {member["hostname"]: member for member in lab.control.status()["members"]}
    return all(members[hostname]["in_pool"] for hostname in hostnames)


def mailed_to(inbox, subject_part: str) -> set[str]:
    # Long subjects arrive folded over two lines.
    return {message["To"].lower() for message in inbox if subject_part in " ".join(message["Subject"].split())}


def notices_about(run: Run, key_part: str) -> set[str]:
    return set(Notice.objects.filter(topic=f"upgrades.run:{run.pk}", key__contains=key_part)
               .values_list("recipient", flat=True))
