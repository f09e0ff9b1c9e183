"""Import jobs: an uploaded file too large for a web request, kept and run by a Celery worker."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils import translation
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from common.csvio import FileError, detect_encoding, xlsx_to_csv
from common.roles import permission_require
from common.scratch import scratch_make
from common.queueing import task_send_on_commit

from .. import hooks
from ..models import ImportJob
from ..selectors import NoActiveProgram, program_active_get
from .files import balances_import, members_import, orders_import


def _core_kind(service, *, program: bool):
    """An import job kind of the core: ``service`` (one of ``files``'s imports) on the upload."""

    def run(*, path, name, encoding, actor, options, on_progress):
        arguments = dict(path=path, name=name, encoding=encoding, actor=actor, on_progress=on_progress)
        if program:
            arguments["program"] = program_active_get()
        if "book_points" in options:
            arguments["book_points"] = options["book_points"]
        return service(**arguments)

    return run


hooks.import_kind("orders", label=_("Orders"), permission="membership.add_order")(_core_kind(orders_import, program=True))
hooks.import_kind("members", label=_("Members"), permission="membership.add_member")(_core_kind(members_import, program=False))
hooks.import_kind("balances", label=_("Opening balances"), permission="membership.import_opening_balances")(
    _core_kind(balances_import, program=True)
)


# What starting a job of each core kind is, in a refusal ("… may not import orders."); other kinds
# are named by their key.
IMPORTING = {"orders": _("import orders"), "members": _("import members"), "balances": _("import balances")}


def import_job_create(*, kind: str, upload, actor, book_points: bool = True, options: dict | None = None):
    """Keep an uploaded file as an ``ImportJob`` of ``kind`` (one of ``hooks.IMPORT_KINDS``) and
    queue it for a worker (after the commit); ``options`` are what the upload form asked besides
    the file (an adjustments batch's name, say), given to the kind's ``run``."""
    spec = hooks.IMPORT_KINDS.get(kind)
    if spec is None:
        raise ValidationError({"kind": gettext("unknown import kind %(kind)s") % {"kind": repr(kind)}})
    permission_require(actor, "membership.add_importjob", gettext("start import jobs"))
    permission_require(actor, spec.permission, str(IMPORTING.get(kind) or gettext("import %(what)s") % {"what": kind}))
    options = {**(options or {}), **({"book_points": book_points} if kind == "orders" else {})}
    with transaction.atomic():
        job = ImportJob(
            kind=kind, original_name=Path(upload.name).name[:255], book_points=book_points, options=options, created_by=actor,
            language=get_language() or settings.LANGUAGE_CODE,
        )
        job.file.save(Path(upload.name).name, upload, save=False)
        job.save()
        task_send_on_commit("membership.import_job_run", job.pk)
    return job


def import_job_record(*, kind: str, name: str, report, actor) -> ImportJob:
    """Keep what an import run in a web request did as a finished ``ImportJob``: its counts and
    its rejected-rows file, which staff download from the job's page."""
    job = ImportJob(
        kind=kind, original_name=Path(name).name[:255], status=ImportJob.Status.DONE, counts=report.counts, created_by=actor,
        started_at=timezone.now(), finished_at=timezone.now(), rows_done=sum(v for k, v in report.counts.items() if k not in ("read", "rejected", "capped")),
    )
    job.rows_total = job.rows_done
    if report.rejected_path:
        with open(report.rejected_path, "rb") as rejected:
            job.rejected_file.save(f"{Path(name).stem}.rejected.csv", File(rejected), save=False)
    job.save()
    return job


def import_job_run(*, job_id: int):
    """Run a queued import job; a job a crashed worker left running is run again (imports are idempotent)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status == ImportJob.Status.DONE:
            return job
        job.status, job.started_at, job.error = ImportJob.Status.RUNNING, timezone.now(), ""
        job.save(update_fields=["status", "started_at", "error"])
    work = scratch_make("import-job-")
    try:
        path = work / Path(job.original_name).with_suffix(".csv").name
        with job.file.open("rb") as source, open(work / "upload", "wb") as copy:
            for chunk in source.chunks():
                copy.write(chunk)
        if job.original_name.lower().endswith((".xlsx", ".xlsm")):
            xlsx_to_csv(work / "upload", path)
        else:
            (work / "upload").rename(path)

        def progress(phase, done, total):
            if phase == "book":
                ImportJob.objects.filter(pk=job.pk).update(rows_done=done, rows_total=total)

        with translation.override(job.language or settings.LANGUAGE_CODE):
            report = hooks.IMPORT_KINDS[job.kind].run(
                path=str(path), name=job.original_name, encoding=detect_encoding(path), actor=job.created_by, options=job.options,
                on_progress=progress,
            )
        job.refresh_from_db(fields=["rows_done", "rows_total"])
        job.counts = report.counts
        if getattr(report, "rejected_path", None):
            with open(report.rejected_path, "rb") as rejected:
                job.rejected_file.save(f"{Path(job.original_name).stem}.rejected.csv", File(rejected), save=False)
        job.status = ImportJob.Status.DONE
    except (FileError, ValidationError, NoActiveProgram, PermissionDenied) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        job.status, job.error = ImportJob.Status.FAILED, text.replace(str(work / "upload"), job.original_name).replace(str(path), job.original_name)
    except Exception as exc:
        job.status, job.error = ImportJob.Status.FAILED, f"{exc.__class__.__name__}: {exc}"
        raise
    finally:
        job.finished_at = timezone.now()
        job.save(update_fields=["counts", "rejected_file", "status", "error", "finished_at"])
        shutil.rmtree(work, ignore_errors=True)
    return job
