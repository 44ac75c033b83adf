"""Run by test_recording: write packets up to a media time into one segment, say so, then wait to be killed."""

import sys
import time
from pathlib import Path

from confserver.recording.segments import SegmentedWriter
from tests.recording.media import load, ms


class OneFile:
    def __init__(self, path):
        self.path = Path(path)

    def opened(self, started_at):
        return self.path


def main(packets_file, out_path, until_ms):
    writer = SegmentedWriter(OneFile(out_path), segment_s=3600)
    last = -1
    for p in load(packets_file):
        if ms(p) > until_ms:
            break
        writer.write(p)
        last = ms(p)
    print(f"written {last}", flush=True)
    time.sleep(600)  # SIGKILLed here, the segment never closed


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
