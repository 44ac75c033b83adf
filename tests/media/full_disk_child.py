"""Run by test_recording_disk.py: a relay process whose files may not grow past a few kilobytes (RLIMIT_FSIZE,
the kernel refuses the write with EFBIG), recording a meeting while a room watches it. Prints one JSON line.

    python -m tests.media.full_disk_child OUT_DIR LIMIT_BYTES
"""

import asyncio
import json
import os
import resource
import sys
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")

import django  # noqa: E402

django.setup()

from confserver.media import local  # noqa: E402
from confserver.media.bot import Bot  # noqa: E402
from tests.recording.media import DirSink  # noqa: E402

MEETING, CHAIR, A = 7, 1, 2
PROGRAM = {"mode": "floor", "chair_room": CHAIR, "source_room": A}


async def main(out_dir: str, limit: int) -> dict:
    failures = []
    sinks = []

    async def failed(meeting_id, code, detail):
        failures.append(
            {
                "meeting": meeting_id,
                "code": code,
                "detail": detail,
                "at": time.monotonic(),
                "on_loop_thread": threading.current_thread() is threading.main_thread(),
            }
        )

    local.on_recording_failed = failed
    local.sink_for = lambda meeting_id: sinks.append(DirSink(out_dir)) or sinks[-1]
    local.after_meeting = lambda meeting_id: None
    local._recovered = True  # no database here

    chair = Bot("chair", (30, 40, 220), extra_audio=1)
    a = Bot("A", (220, 30, 30), extra_audio=1)
    try:
        for room, bot in ((CHAIR, chair), (A, a)):
            await bot.accept(await local.open_peer(MEETING, room, await bot.offer(), PROGRAM, set()))
            await bot.wait_connected(10)
        # From here on, no file of this process may grow past `limit` bytes.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        await local.start_recording(MEETING, PROGRAM)
        started = time.monotonic()
        while not failures and time.monotonic() - started < 30:
            await asyncio.sleep(0.05)
        at_failure = chair.video[0].frames
        await asyncio.sleep(2.0)
        frames_after = chair.video[0].frames - at_failure
        relay = local._relays[MEETING]
        recording_after = relay.recording or MEETING in local._recorders
        while local._background and time.monotonic() - started < 40:
            await asyncio.sleep(0.05)
        writer_threads = [t.name for t in threading.enumerate() if t.name.startswith("recorder")]
        files = sorted(os.listdir(out_dir))
        await local.end_meeting(MEETING)
        return {
            "failures": [dict(f, after_s=round(f["at"] - started, 2)) for f in failures],
            "frames_after_failure_2s": frames_after,
            "audio_frames_at_chair": chair.audio[1].frames,
            "recording_after": recording_after,
            "writer_threads": writer_threads,
            "files": {name: os.path.getsize(os.path.join(out_dir, name)) for name in files},
            "closed_segments": len(sinks[0].closed_segments) if sinks else None,
        }
    finally:
        await chair.close()
        await a.close()
        await local.close_all()


if __name__ == "__main__":
    result = asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 90))
    print(json.dumps(result), flush=True)
