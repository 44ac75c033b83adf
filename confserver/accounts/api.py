"""Who is signed in (GET /api/accounts/me), for the "who is signed in / sign out" part of the pages' headers."""

from django.middleware.csrf import get_token
from ninja import Router, Schema
from ninja.security import SessionAuth

from confserver.rooms.schemas import ErrorOut

from . import landing

router = Router(tags=["accounts"], auth=SessionAuth())


class MeOut(Schema):
    username: str
    name: str
    role: str
    role_label: str
    unit_name: str
    home: str  # the page this account starts from
    pages: list[str]  # the signed-in pages it may open
    csrf: str  # for the sign-out form (POST /logout/)


@router.get("/me", response={200: MeOut, 401: ErrorOut})
def me(request):
    """The signed-in account (a session, not a room link): name, role, unit and its pages."""
    return MeOut(**landing.who(request.auth), csrf=get_token(request))
