"""Events for the delegates of a meeting: one channel-layer group per meeting's delegate sockets
(consumers.DelegateConsumer). Votes and speakers (confserver/votes/) send through here too."""

import asyncio

from channels.layers import get_channel_layer

_tasks: set[asyncio.Task] = set()


def group_name(meeting_id: int) -> str:
    return f"delegates-{meeting_id}"


async def _send(meeting_id: int, event: dict) -> None:
    await get_channel_layer().group_send(group_name(meeting_id), {"type": "delegates.event", "event": event})


def send_to_delegates(meeting_id: int, event: dict):
    """Deliver `event` (a JSON-ready dict tagged by "event") to every delegate socket of the meeting.
    From synchronous code it returns once sent; on an event loop it returns a task to await."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        from asgiref.sync import async_to_sync

        async_to_sync(_send)(meeting_id, event)
        return None
    task = loop.create_task(_send(meeting_id, event))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def revoked(meeting_id: int, delegate_id: int, version: int) -> None:
    """From synchronous code: sockets opened with a link of `delegate_id` older than `version` close."""
    from asgiref.sync import async_to_sync

    async_to_sync(get_channel_layer().group_send)(
        group_name(meeting_id), {"type": "delegates.revoked", "delegate_id": delegate_id, "version": version}
    )
