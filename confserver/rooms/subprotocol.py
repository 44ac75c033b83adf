"""How a room token rides the WebSocket handshake: in Sec-WebSocket-Protocol, never in the URL, which
access logs record (issue 9). Plain Python, for clients that do not load Django; rooms/tokens.py re-exports it.

The client offers two subprotocols, "confserver" and "confserver.token.<token>"; the server accepts
"confserver" (a browser fails the handshake if the server picks none it offered). Room tokens are made of
base64url characters and "." (rooms/tokens.py), all valid in a subprotocol, so no further encoding is needed.
"""

import re

SUBPROTOCOL = "confserver"
TOKEN_PROTOCOL = "confserver.token."
_TCHARS = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")  # RFC 7230 token characters


def ws_subprotocols(token: str | None) -> list[str]:
    """What a client offers in Sec-WebSocket-Protocol: "confserver", and its room token when it has one."""
    if token is None:
        return [SUBPROTOCOL]
    if not _TCHARS.fullmatch(token):
        raise ValueError("a room token is made of base64url characters and '.'")
    return [SUBPROTOCOL, TOKEN_PROTOCOL + token]


def token_from_subprotocols(protocols) -> str | None:
    """The room token a client offered among its subprotocols, if any."""
    for p in protocols or ():
        if isinstance(p, str) and p.startswith(TOKEN_PROTOCOL) and len(p) > len(TOKEN_PROTOCOL):
            return p[len(TOKEN_PROTOCOL) :]
    return None
