"""The WebSocket write path alone (confserver/edge/fastwrite.py): CPU per frame written to each of N server
transports on Twisted's asyncio reactor (as daphne runs), loopback, Twisted's buffered write vs send-now.

One "event" writes one 154-byte frame (a small signaling event) to every transport, and is timed (process CPU)
until the reactor has no writer left; the clients drain between events. Each mode in a process of its own.

    .venv/bin/python bench/_edge_write.py [--sockets 2000] [--events 30]
Last line: {"write_us_twisted", "write_us_send_now", "write_sockets", …}: per mode the lower of two runs' medians
over the events (each run's in *_runs). Stops by itself.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_mode(sockets: int, events: int, send_now: bool) -> float:
    import asyncio
    import resource
    import socket
    import time

    from twisted.internet import asyncioreactor

    asyncioreactor.install(asyncio.new_event_loop())
    from twisted.internet import protocol, reactor

    from confserver.edge.fastwrite import send_now as make_send_now

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    servers, clients, samples = [], [], []
    frame = b"\x81\x7e\x00\x96" + b"x" * 150

    class Server(protocol.Protocol):
        def connectionMade(self):
            self.transport.setTcpNoDelay(True)  # as autobahn does
            if send_now:
                make_send_now(self.transport)
            servers.append(self)

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Server), interface="127.0.0.1", backlog=4096)

    def connect():
        for _ in range(sockets):
            c = socket.create_connection(("127.0.0.1", port.getHost().port))
            c.setblocking(False)
            clients.append(c)
        wait_accepted()

    def wait_accepted():
        if len(servers) < sockets:
            reactor.callLater(0.05, wait_accepted)
        else:
            reactor.callLater(0.2, event)

    def event():
        if len(samples) == events:
            reactor.stop()
            return
        cpu = time.process_time()
        for s in servers:
            s.transport.write(frame)
        reactor.callLater(0, flushed, cpu)

    def flushed(cpu):
        if reactor._writers:  # some transport still waits for writability
            reactor.callLater(0, flushed, cpu)
            return
        samples.append((time.process_time() - cpu) / sockets * 1e6)
        for c in clients:
            try:
                c.recv(65536)
            except BlockingIOError:
                pass
        reactor.callLater(0.05, event)

    reactor.callWhenRunning(connect)
    reactor.callLater(300, reactor.stop)  # bounded
    reactor.run()
    samples.sort()
    return samples[len(samples) // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sockets", type=int, default=2000)
    p.add_argument("--events", type=int, default=30)
    p.add_argument("--mode", choices=("twisted", "send_now"))
    args = p.parse_args()
    if args.mode:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(one_mode(args.sockets, args.events, args.mode == "send_now")))
        return
    out = {"write_sockets": args.sockets}
    for mode in ("twisted", "send_now", "twisted", "send_now"):  # interleaved: the machine's load moves
        run = subprocess.run(
            [sys.executable, __file__, "--sockets", str(args.sockets), "--events", str(args.events), "--mode", mode],
            capture_output=True,
            text=True,
            timeout=400,
            check=True,
        )
        us = json.loads(run.stdout.strip().splitlines()[-1])
        out.setdefault(f"write_us_{mode}_runs", []).append(round(us, 2))
    for mode in ("twisted", "send_now"):
        out[f"write_us_{mode}"] = min(out[f"write_us_{mode}_runs"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
