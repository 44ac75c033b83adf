"""Input checks shared by every schema and endpoint: text without NUL, ids the database can hold.

PostgreSQL refuses NUL in text and 64-bit columns refuse larger numbers; either used to
reach the database and answer 500 (issue 9, finding 13).
"""

from typing import Annotated

from pydantic import Field
from pydantic_core import PydanticCustomError

ID_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=ID_MAX)]


def id_in_range(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= ID_MAX


def nul_message(where: str) -> str:
    return f"Trường '{where}' chứa ký tự NUL (\\x00), không được phép."


def reject_nul(data):
    """Raise invalid_field when any string in `data` (keys included, nested dicts/lists) holds NUL.
    Iterative: parsed input may nest deep."""
    todo = [("", data)]
    while todo:
        where, value = todo.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise PydanticCustomError("invalid_field", nul_message(where or "message"))
            continue
        items = (
            value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
        )
        for key, item in items:
            name = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and "\x00" in key:
                raise PydanticCustomError("invalid_field", nul_message(name.replace("\x00", "\\x00")))
            todo.append((name, item))
    return data
