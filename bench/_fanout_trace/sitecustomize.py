"""Instrumentation of the daphne workers for bench/_cascade_fanout.py (never loaded by the product).

Put on the workers' PYTHONPATH, Python imports this at start-up; it patches once daphne's server starts (the
application, the edge and Twisted's asyncio reactor are loaded by then). With FANOUT_TRACE_DIR it notes, on the
CLOCK_MONOTONIC clock every process shares (perf_counter): each group_send (the chair's event leaving a worker),
each meeting hub's dispatch (start, end, sessions, process CPU), each frame written to a socket and each cyclic
GC pass (generation, duration, objects collected, CPU), written as JSON to $FANOUT_TRACE_DIR/trace-<pid>.json
when the worker exits; SIGURG runs a full collection. With FANOUT_AUTOBAHN_FRAMES=1 frames are built by
autobahn's sendMessage (as before the edge framed them itself). With FANOUT_AB=1, SIGUSR1 and SIGUSR2 switch
between that old path and the new one.
"""

import atexit
import gc
import importlib.abc
import importlib.util
import json
import os
import sys
import time
from array import array

_dir = os.environ.get("FANOUT_TRACE_DIR")
_autobahn_frames = os.environ.get("FANOUT_AUTOBAHN_FRAMES") == "1"
_alternate = os.environ.get("FANOUT_AB") == "1"
perf, cpu = time.perf_counter, time.process_time
GC: list = []  # (start, seconds, generation, collected, CPU seconds)
SENDS: list = []  # (at, group)
DISPATCHES: list = []  # (start, end, sessions, event name, cpu seconds)
WRITES = array("d")  # the time of every frame written
WRITES_CPU = array("d")  # and the process's CPU time then
_gc_start = [0.0, 0.0]


def _on_gc(phase, info):
    if phase == "start":
        _gc_start[:] = perf(), cpu()
    else:
        GC.append((_gc_start[0], perf() - _gc_start[0], info["generation"], info["collected"], cpu() - _gc_start[1]))


def _trace():
    from channels_redis import pubsub
    from twisted.internet import tcp

    from confserver.edge import fastwrite
    from confserver.signaling import sessions

    gc.callbacks.append(_on_gc)
    import signal

    def census_then_collect(*_):
        """What a full collection costs with every socket in, and the objects it goes through, by type."""
        counts: dict[str, int] = {}
        for obj in gc.get_objects():  # the collected generations (not what gc.freeze() set apart)
            name = type(obj).__qualname__
            counts[name] = counts.get(name, 0) + 1
        with open(os.path.join(_dir, f"census-{os.getpid()}.json"), "w") as f:
            json.dump(counts, f)
        gc.collect()

    signal.signal(signal.SIGURG, census_then_collect)
    group_send_ = pubsub.RedisPubSubLoopLayer.group_send

    async def group_send(self, group, message):
        SENDS.append((perf(), group))
        return await group_send_(self, group, message)

    pubsub.RedisPubSubLoopLayer.group_send = group_send
    dispatch_ = sessions.Hub._dispatch

    async def dispatch(self, message):
        t0, c0 = perf(), cpu()
        try:
            return await dispatch_(self, message)
        finally:
            event = message.get("event") or {}
            name = event.get("event", message.get("type"))
            DISPATCHES.append((t0, perf(), len(self.sessions), name, cpu() - c0, MODE[0], c0))

    sessions.Hub._dispatch = dispatch

    def traced(cls):
        write = cls.write

        def traced_write(self, data):
            if type(self) is cls:  # SendNowServer's fallback to Twisted's write is noted once
                WRITES.append(perf())
                WRITES_CPU.append(cpu())
            return write(self, data)

        cls.write = traced_write

    traced(tcp.Server)
    traced(fastwrite.SendNowServer)

    @atexit.register
    def dump():
        # Quick: the worker has 10 s from SIGTERM to exit (live.daphne), on a loaded machine.
        base = os.path.join(_dir, f"trace-{os.getpid()}")
        with open(base + ".writes", "wb") as f:
            WRITES.tofile(f)
            WRITES_CPU.tofile(f)
        with open(base + ".json", "w") as f:
            json.dump({"gc": GC, "sends": SENDS, "dispatches": DISPATCHES}, f)


def _autobahn():
    from autobahn.websocket.protocol import WebSocketProtocol as Autobahn

    from confserver.edge import websocket as edge_ws

    def autobahn_send(self, payload, isBinary=False, fragmentSize=None, sync=False, doNotCompress=False):
        inbound, self.maxMessagePayloadSize = self.maxMessagePayloadSize, edge_ws.OUTBOUND_MAX_BYTES
        try:
            Autobahn.sendMessage(self, payload, isBinary, fragmentSize, sync, doNotCompress)
        finally:
            self.maxMessagePayloadSize = inbound

    edge_ws.EdgeWebSocketProtocol.sendMessage = autobahn_send


def _ab():
    """SIGUSR1: the path before issue 11's direct send (each notification through its connection's queue and
    writer task, framed by autobahn); SIGUSR2: the product's. So old and new alternate event by event, on the
    same sockets, under the same load."""
    import signal

    from confserver.edge import websocket as edge_ws
    from confserver.signaling import sessions

    new_send = edge_ws.EdgeWebSocketProtocol.sendMessage
    _autobahn()
    old_send = edge_ws.EdgeWebSocketProtocol.sendMessage
    deliver_ = sessions.Session.deliver

    def deliver(self, text):
        if MODE[0] == "old" and self.direct is not None:
            direct, self.direct = self.direct, None
            try:
                return deliver_(self, text)
            finally:
                self.direct = direct
        return deliver_(self, text)

    def send_message(self, *args, **kwargs):
        return (old_send if MODE[0] == "old" else new_send)(self, *args, **kwargs)

    sessions.Session.deliver = deliver
    edge_ws.EdgeWebSocketProtocol.sendMessage = send_message
    signal.signal(signal.SIGUSR1, lambda *_: MODE.__setitem__(0, "old"))
    signal.signal(signal.SIGUSR2, lambda *_: MODE.__setitem__(0, "new"))


MODE = ["new"]


def _patched_server(module):
    run = module.Server.run

    def patched_run(self):
        if _dir:
            _trace()
        if _autobahn_frames:
            _autobahn()
        elif _alternate:
            _ab()
        return run(self)

    module.Server.run = patched_run


class _OnDaphneServer(importlib.abc.MetaPathFinder):
    """Runs _patched_server on daphne.server as soon as it is imported."""

    def find_spec(self, name, path, target=None):
        if name != "daphne.server":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_then_patch(module):
            exec_module(module)
            _patched_server(module)

        spec.loader.exec_module = exec_then_patch
        return spec


if _dir or _autobahn_frames or _alternate:
    sys.meta_path.insert(0, _OnDaphneServer())
