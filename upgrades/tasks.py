from celery import shared_task

from upgrades.services import availability, engine, preflight, readiness, report, run_notices


@shared_task(name="upgrades.preflight")
def preflight_task(request_id: int) -> str:
    return preflight.preflight_run(request_id=request_id)


@shared_task(name="upgrades.run_preflight")
def run_preflight_task(run_id: int, by_id: int | None = None) -> bool:
    return readiness.preflight_run(run_id=run_id, by_id=by_id)


@shared_task(name="upgrades.probe")
def probe_task(probe_id: int) -> int:
    return availability.probe_run(probe_id=probe_id)


@shared_task(name="upgrades.step_task", bind=True)
def step_task(self, step_id: int) -> str:
    # The claim names this delivery: a redelivered or duplicated message is another claimant.
    return engine.step_execute(step_id=step_id, worker=f"{self.request.hostname or 'worker'}/{self.request.id}")


@shared_task(name="upgrades.report_pdf")
def report_pdf_task(pdf_id: int) -> bool:
    return report.pdf_make(pdf_id=pdf_id)


@shared_task(name="upgrades.run_report_mail")
def run_report_mail_task(run_id: int) -> int:
    return run_notices.report_mail_send(run_id=run_id)


@shared_task(name="upgrades.failures_escalate")
def failures_escalate_task() -> int:
    """Beat: a failure nobody took within RUN_FAILURE_ESCALATE_MINUTES goes to support again."""
    return run_notices.failures_escalate()
