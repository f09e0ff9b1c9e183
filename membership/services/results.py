"""What a booking says it did: per fact, a ``BookingResult``, or a ``Rejection`` naming the field."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BookingResult:
    outcome: str  # "created", "changed" or "unchanged"
    growth: int = 0  # net growth booked by this call
    points: int = 0  # net points booked by this call
    capped: int = 0  # growth and points withheld by caps in this call
    blocked: int = 0  # growth and points withheld by the earning guard in this call (kept by the guard)


@dataclass
class Rejection:
    field: str
    message: str


@dataclass
class BatchResult:
    """Per fact of the batch, in the order given: a ``BookingResult`` or a ``Rejection``."""

    outcomes: list[BookingResult | Rejection] = field(default_factory=list)
