"""Celery tasks of risk control: each calls a service."""

from celery import shared_task

from .services import anomaly_scan_recent


@shared_task(name="riskcontrol.scan")
def scan() -> dict:
    """What the hourly schedule runs: the anomaly rules over the recent hours."""
    report = anomaly_scan_recent()
    return {"rules": report.rules, "found": report.found, "raised": report.raised, "suspended": report.suspended}
