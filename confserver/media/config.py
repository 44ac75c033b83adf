"""ICE settings of the media relay (plain data, no aiortc import)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server, as in the browser's RTCIceServer."""

    urls: str
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class IceConfig:
    """Which candidates the relay offers.

    host_addresses: local addresses to bind and offer; None = every
    non-loopback interface (aioice's discovery). Loopback tests pass
    ["127.0.0.1"], since aioice's discovery never offers loopback.
    port_range: (first, last) UDP ports to bind, inclusive; None = any.
    servers: STUN/TURN servers; empty by default, because aiortc would
    otherwise query a public STUN server that is unreachable here.
    public_address: the address a 1:1 NAT maps the host addresses to; it is
    offered as a server-reflexive candidate on the same port.
    """

    host_addresses: tuple[str, ...] | None = None
    port_range: tuple[int, int] | None = None
    servers: tuple[IceServer, ...] = field(default_factory=tuple)
    public_address: str | None = None
    ipv6: bool = False

    @classmethod
    def loopback(cls) -> "IceConfig":
        return cls(host_addresses=("127.0.0.1",))
