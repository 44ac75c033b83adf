"""When a relay process that starts tells its meetings' rooms to reconnect (signaling/relayrestart.py): only with
relay processes of their own reached over Redis, and never with MEDIA_CASCADE on (the monitor re-plans then)."""

from confserver.signaling import relayrestart


def test_only_relay_processes_without_the_cascade_announce(settings):
    settings.REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/0"
    settings.MEDIA_RELAY_CHANNELS = ["relay-0"]
    settings.MEDIA_CASCADE = False
    assert relayrestart.enabled()
    settings.MEDIA_CASCADE = True  # the monitor sees the new incarnation and sends relay_move with the plan's epoch
    assert not relayrestart.enabled()
    assert relayrestart.announce_soon("relay-0") is None
    settings.MEDIA_CASCADE = False
    settings.MEDIA_RELAY_CHANNELS = []  # the embedded relay dies with the worker, and its sockets with it
    assert not relayrestart.enabled()


class _Socket:
    closing, session, actor = False, None, None


def test_a_socket_not_joined_is_not_told():
    relayrestart.on_message(_Socket(), {"type": relayrestart.MESSAGE, "channel": "relay-0"})
    assert not relayrestart._tasks
