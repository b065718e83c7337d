"""A finished run's report as a PDF: asked for once per time zone, printed by a worker (Chromium
is seconds of CPU and hundreds of MB), stored, and served from the database after that."""

import logging

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portal.dispatch import dispatch
from upgrades.models import ReportPdf, Run
from upgrades.report_pdf import PdfError, html_to_pdf, inline_css
from upgrades.selectors_runs import report_of

log = logging.getLogger(__name__)


def pdf_ask(*, run: Run, zone: str) -> ReportPdf:
    """The run's PDF in `zone`: the one stored or being printed, else a new one asked of a worker.
    Asked twice at once, it is printed once (the constraint of one per run and zone)."""
    try:
        with transaction.atomic():
            pdf = ReportPdf.objects.create(run=run, time_zone=zone)
            dispatch("upgrades.report_pdf", pdf.pk, about=f"run:{run.pk}:pdf")
            return pdf
    except IntegrityError:
        return ReportPdf.objects.get(run=run, time_zone=zone)


def pdf_forget(pdf: ReportPdf) -> None:
    """A print that failed is forgotten once it is said, so that asking again tries again."""
    ReportPdf.objects.filter(pk=pdf.pk, content__isnull=True).exclude(error="").delete()


def pdf_make(*, pdf_id: int) -> bool:
    """The worker's part: print the report in its reader's zone and store it, or store why not."""
    pdf = ReportPdf.objects.select_related("run").filter(pk=pdf_id).first()
    if pdf is None or pdf.content is not None:
        return pdf is not None  # forgotten meanwhile, or printed by an earlier delivery
    context = {**report_of(pdf.run), "printing": True, "inline_css": inline_css(), "zone": pdf.time_zone}
    try:
        content = html_to_pdf(render_to_string("upgrades/run_report.html", context))
    except PdfError as error:
        log.warning("run %s: no PDF: %s", pdf.run_id, error)
        ReportPdf.objects.filter(pk=pdf.pk).update(error=str(error))
        return False
    ReportPdf.objects.filter(pk=pdf.pk).update(content=content, error="", made_at=timezone.now())
    return True
