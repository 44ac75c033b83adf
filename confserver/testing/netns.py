"""Weak links for tests and benches (issue 15): each room in a network namespace of its own, joined to
this machine by a veth pair, its downlink capped with `tbf` (the kernel here has no `netem`; loss and
delay come from the UDP shim in testing/roombot.py, on the room's receive path).

    with RoomNet.create(0) as net:        # namespace, veth pair, addresses; removed on exit, even on error
        net.cap_kbps(256)                 # what the relay can send the room (None: no cap)
        proc = net.popen([python, "-m", "confserver.testing.roombot", ...])

The host side of the pair is `host_ip` (the relay offers it as an ICE host candidate), the room's side
`room_ip`. Needs root (CAP_NET_ADMIN); `unavailable()` says why not, for a test to skip with.
"""

import os
import shutil
import subprocess

TBF_LATENCY_MS = 200  # what the cap's queue holds, in time at its rate (a home router's buffer)


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=10)


def unavailable() -> str | None:
    """Why rooms in network namespaces cannot be made here, or None."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is not installed"
    probe = f"csprobe{os.getpid() % 100000}"
    result = _run("ip", "netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"`ip netns add` is not permitted here: {result.stderr.strip()}"
    _run("ip", "netns", "del", probe, check=False)
    return None


class RoomNet:
    """One room's namespace and link. `index` (0-63) picks its names and its /30 in 10.<a>.<b>.0/24,
    where <a>.<b> come from this process's id, so that two runs on one machine do not collide."""

    def __init__(self, index: int):
        if not 0 <= index < 64:
            raise ValueError(index)
        tag = f"{os.getpid() % 100000}x{index}"
        self.ns = f"csw{tag}"
        self.host_dev = f"cwh{tag}"[:15]
        self.room_dev = f"cwr{tag}"[:15]
        pid = os.getpid()
        base = f"10.{160 + pid % 64}.{(pid // 64) % 256}"
        self.host_ip = f"{base}.{index * 4 + 1}"
        self.room_ip = f"{base}.{index * 4 + 2}"
        self.up = False
        self.rate_kbps: int | None = None

    @classmethod
    def create(cls, index: int) -> "RoomNet":
        net = cls(index)
        net.open()
        return net

    def open(self) -> None:
        self.close()  # a namespace left by a killed run of this pid's names
        self.up = True
        try:
            _run("ip", "netns", "add", self.ns)
            _run("ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.room_dev)
            _run("ip", "link", "set", self.room_dev, "netns", self.ns)
            _run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_dev)
            _run("ip", "link", "set", self.host_dev, "up")
            self.exec_ok("ip", "addr", "add", f"{self.room_ip}/30", "dev", self.room_dev)
            self.exec_ok("ip", "link", "set", self.room_dev, "up")
            self.exec_ok("ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def exec_ok(self, *args: str) -> None:
        _run("ip", "netns", "exec", self.ns, *args)

    def cap_kbps(self, kbps: int | None) -> None:
        """Cap what reaches the room (the host side's egress) at `kbps`, or lift the cap (None)."""
        if kbps is None:
            _run("tc", "qdisc", "del", "dev", self.host_dev, "root", check=False)
        else:
            burst = max(kbps * 1000 // 8 // 50, 3000)  # 20 ms of the rate, at least two packets
            _run(
                "tc",
                "qdisc",
                "replace",
                "dev",
                self.host_dev,
                "root",
                "tbf",
                "rate",
                f"{kbps}kbit",
                "burst",
                str(burst),
                "latency",
                f"{TBF_LATENCY_MS}ms",
            )
        self.rate_kbps = kbps

    def qdisc_stats(self) -> str:
        return _run("tc", "-s", "qdisc", "show", "dev", self.host_dev, check=False).stdout

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the room's namespace."""
        return ["ip", "netns", "exec", self.ns, *argv]

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(argv), **kwargs)

    def close(self) -> None:
        """Remove the namespace and the pair (deleting either end removes both); idempotent."""
        _run("ip", "link", "del", self.host_dev, check=False)
        _run("ip", "netns", "del", self.ns, check=False)
        self.up = False

    def __enter__(self) -> "RoomNet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
