"""Drain case of bench/cascade.py (issue 11, item 3): two daphne workers, two `run_relay`, a `run_relay_monitor`,
Redis (REDIS_URL), MEDIA_CASCADE on; --rooms aiortc rooms (receiving) and the chair (publishing) on one relay; that
relay drained with `run_relay_monitor --drain`; rooms told in batches of --batch per worker, make-before-break
(tests/media/test_drain_process.py's scenario). The bots run in --bot-procs processes of their own (and the chair in
one more). Figure: `drain_gap_max_ms`, the worst room's longest wait between two frames of the chair's video given to
its decoder, timed at the kernel, on the old connection or on the new one from its first keyframe, around its move;
beside it the same from decoded pictures (`drain_picture_gap_max_ms`) and the bot processes' worst event-loop stall
(`drain_bot_stall_max_ms`). With --priority nice (the default) this process and all it starts (relays, daphne workers,
monitor, bots) run in a session of their own at autogroup nice -10: the figure is the drain's, not the wait for a
core that other work on this 2-core machine holds. Last line: one JSON object."""

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")


def ahead_of_the_machine() -> bool:
    """A session (so an autogroup) of our own at nice -10; False if refused."""
    try:
        os.setsid()
        Path("/proc/self/autogroup").write_text("-10")
        return True
    except OSError:
        return False


async def main(n_rooms: int, batch: int, bot_procs: int) -> dict:
    import django

    django.setup()
    from tests.media.test_drain_process import drain_scenario

    got = await drain_scenario(Path(tempfile.mkdtemp(prefix="cascade-drain-")), n_rooms, batch, bot_procs)
    for key in ("_gaps", "_picture_gaps", "_told", "_stalls", "_all_gaps"):
        print(key, got[key], file=sys.stderr)
    return {k: v for k, v in got.items() if not k.startswith("_")}


if __name__ == "__main__":
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")  # as bench/_cascade_fanout.py
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=12)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--bot-procs", type=int, default=3)
    parser.add_argument("--priority", choices=("nice", "none"), default="nice")
    args = parser.parse_args()
    niced = args.priority == "nice" and ahead_of_the_machine()
    got = asyncio.run(main(args.rooms, args.batch, args.bot_procs))
    print(json.dumps(got | {"drain_priority": "nice -10" if niced else "none"}))
