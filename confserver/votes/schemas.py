"""Pydantic schemas of the speakers and votes HTTP API (issue 14, items 4-6)."""

from typing import Literal

from pydantic import Field

from confserver.fields import Id
from confserver.rooms.schemas import Strict

ChoiceName = Literal["yes", "no", "abstain"]
RuleName = Literal["half_all", "half_present", "two_thirds_all"]


class BallotIn(Strict):
    choice: ChoiceName
    # The client's idempotency key for this ballot: the same key again (a retry after a lost answer) is acknowledged
    # without counting twice.
    key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class VoteIn(Strict):
    question: str = Field(min_length=1, max_length=500)
    agenda_item_id: Id | None = None
    secret: bool = False
    rule: RuleName = "half_all"
    limit_s: int = Field(default=60, ge=10, le=3600)


class RegisterIn(Strict):
    topic: str = Field(min_length=1, max_length=200)
    agenda_item_id: Id | None = None


class OrderIn(Strict):
    ids: list[Id] = Field(max_length=1000)


class LimitIn(Strict):
    limit_s: int | None = Field(default=None, ge=1, le=3600)
