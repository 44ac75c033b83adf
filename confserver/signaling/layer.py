"""channels_redis's pub/sub layer, with publishing that outlasts a Redis restart (issue 9, #9):
a send that fails to reach Redis is retried with backoff for SIGNALING_PUBLISH_RETRY_S
instead of failing the consumer and losing the event."""

import asyncio
import logging
import time

from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

_RETRIED = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError, asyncio.TimeoutError)


_failing = False  # publishing fails now: logged once per outage


async def _retrying(call, *args):
    global _failing
    end = time.monotonic() + settings.SIGNALING_PUBLISH_RETRY_S
    delay = 0.05
    while True:
        try:
            out = await call(*args)
            _failing = False
            return out
        except _RETRIED as exc:
            if time.monotonic() + delay > end:
                from . import heartbeat

                heartbeat.resync_due = True  # the event is lost: clients redraw once Redis answers
                raise
            if not _failing:
                log.warning("publishing failed (%s); retrying for up to %s s", exc, settings.SIGNALING_PUBLISH_RETRY_S)
                _failing = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


class RetryingPubSubLayer(RedisPubSubChannelLayer):
    async def group_send(self, group, message):
        return await _retrying(self._get_layer().group_send, group, message)

    async def send(self, channel, message):
        return await _retrying(self._get_layer().send, channel, message)
