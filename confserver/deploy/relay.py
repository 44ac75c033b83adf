"""A relay process that is ready before it is needed (bin/prod, systemd's relay@ and relay-standby@ units).

Starting `manage.py run_relay` takes seconds (Python, Django, aiortc; 12 s measured at load 12 on 2 cores), all
of which a meeting's media would wait after its relay crashed. So each relay channel gets two of these: both load
everything, then take the channel's lock (flock) in turn; the one holding it runs `run_relay`, the other waits.
The kernel lets go of a dead holder's lock at once, and the waiting one serves within a fraction of a second
while the supervisor starts a new waiting one. The lock file holds the serving process's pid.

    python -m confserver.deploy.relay --channel relay-0 --lock var/prod/run/relay-0.lock [--cpu 0]
"""

import argparse
import fcntl
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channel", required=True)
    p.add_argument("--lock", required=True, help="lock file shared by the channel's processes")
    p.add_argument("--cpu", type=int, default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    import django

    django.setup()
    # What run_relay needs before it serves, loaded now while another process serves the channel.
    import aiortc  # noqa: F401
    from django.core.management import call_command

    from confserver.media import local, registry, relayd  # noqa: F401
    from confserver.media.management.commands import run_relay  # noqa: F401
    from confserver.recording import live  # noqa: F401

    fd = os.open(args.lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held until this process ends, however it ends
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    print(f"relay {args.channel}: serving (pid {os.getpid()})", flush=True)
    options = {"channel": args.channel}
    if args.cpu is not None:
        options["cpu"] = args.cpu
    call_command("run_relay", **options)
    return 0


def serving_pid(lock) -> int | None:
    """The pid of the process serving a channel, from its lock file (None: none has served yet)."""
    try:
        text = open(lock).read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


if __name__ == "__main__":
    sys.exit(main())
