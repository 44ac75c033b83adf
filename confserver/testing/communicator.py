"""A WebsocketCommunicator for tests that lets the app's database work hand its connections back.

channels.testing's communicators replace `channels.db.close_old_connections` with a no-op for the length of
every `send_input` and `receive_output` (for Django's TestCase, whose one connection is inside a transaction).
The patch is process-wide: a consumer's `database_sync_to_async(..., thread_sensitive=False)` call running in
the loop's thread pool meanwhile (control.admit, the join writes) then never hands its thread's connection
back, and the connection outlives the test: PostgreSQL refuses to drop the test database ("is being accessed
by other users"). The consumers' database work never runs in the test's own thread, so here the app keeps the
close it has in production."""

from asgiref.testing import ApplicationCommunicator
from channels.testing import WebsocketCommunicator as _ChannelsWebsocketCommunicator


class WebsocketCommunicator(_ChannelsWebsocketCommunicator):
    async def send_input(self, message):
        return await ApplicationCommunicator.send_input(self, message)

    async def receive_output(self, timeout=1):
        return await ApplicationCommunicator.receive_output(self, timeout)
