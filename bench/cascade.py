"""Relay cascade (issue 11): a driver of named cases, each run in a process of its own, loopback only, bounded,
stopping by itself:
- plan (bench/_cascade_plan.py): placement of the pre-2025 national list (10,811 rooms) over ≥ 45 simulated
        relays, ≥ 20 plans timed → `plan_rooms`, `plan_ms_p95` (goal ≤ 200), and `moved_on_add` /
        `moved_on_remove` (must be only that relay's rooms: `moved_only_that_relays_rooms`).
- failover (bench/_cascade_failover.py): 12 aiortc rooms and the chair on one of two run_relay, MEDIA_CASCADE on;
        that relay killed with SIGKILL → `failover_max_s`, the worst room's time until its new connection has the
        chair's first keyframe (at the kernel; its first decoded picture beside it).
- drain (bench/_cascade_drain.py): 12 receiving rooms and the chair on one of two run_relay; that relay drained
        (batches of 4 per worker, make-before-break) → `drain_gap_max_ms`, the worst room's longest wait between two
        frames of the chair's video it could show around its move, timed at the kernel (decoded pictures and the
        bot processes' stalls beside it).
- fanout (bench/_cascade_fanout.py): one chair event to 5,000 room sockets over 2 daphne workers and Redis →
        `fanout_sockets`, `fanout_p99_ms`, `fanout_us_per_delivery` (worker CPU a delivery, to project from).
- media (bench/_cascade_media.py): a root and 3 leaf relay processes linked as dial_link links them, 150 counting
        subscribers on each (600) → `hop_added_p95_ms` (0 % loss asked), then a root and one leaf with 150 each,
        a core per relay on this 2-core machine → `hop_core_each_p95_ms`.
The aiortc cases run their bots in processes of their own (tests/media/botproc.py) and, like the media case's
subscribers, at autogroup nice -10 (its relays under SCHED_FIFO): figures of the product, not of the wait for a core
on a shared 2-core machine.
Media and signaling cases (rooms, relays, levels, hop_added_p95_ms, failover_max_s, drain_gap_max_ms,
fanout_sockets, fanout_p99_ms) are added to CASES as `_cascade_<name>.py` modules.

    .venv/bin/python bench/cascade.py [--only plan]
Last line: one JSON object with the issue's keys (null for a case not run or failed) and the cases' other figures.
A case that fails prints why to stderr.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _driver import main  # noqa: E402

CASES = {
    "plan": (["_cascade_plan.py", "--relays", "48", "--trials", "10"], 600),
    "fanout": (["_cascade_fanout.py", "--sockets", "5000", "--events", "10"], 900),
    "failover": (["_cascade_failover.py", "--rooms", "12"], 600),
    "drain": (["_cascade_drain.py", "--rooms", "12", "--batch", "4"], 600),
    "media": (
        [
            "_cascade_media.py",
            "--levels",
            "2",
            "--width",
            "3",
            "--subscribers",
            "150",
            "--bot-procs",
            "3",
            "--core-each",
        ],
        1500,
    ),
}
KEYS = (
    "rooms",
    "relays",
    "levels",
    "hop_added_p95_ms",
    "failover_max_s",
    "drain_gap_max_ms",
    "plan_rooms",
    "plan_ms_p95",
    "fanout_sockets",
    "fanout_p99_ms",
)


if __name__ == "__main__":
    main(__doc__, CASES, KEYS)
