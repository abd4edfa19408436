# -*- test-case-name: tests.service.test_webhooks -*-
"""
C{--webhook URL}: call events POSTed as JSON, in order, without ever making a
call wait.

L{WebhookPoster.post} only encodes the event and appends it to a queue; one
request at a time takes events off it, so a receiver sees them in the order
they happened.  The policy, with the defaults:

  - a 2xx answer delivers the event; a 4xx other than 408, 425 and 429 means
    the receiver will never take it, so it is dropped at once;
  - anything else (5xx, 408/425/429, refused connection, no answer within
    C{timeout} = 10 s) is retried after 1, 2, 4, 8 and 16 s (doubling from
    C{base_delay}, at most C{max_delay} = 30 s); after C{max_attempts} = 6
    tries the event is dropped and the next one is sent;
  - at most C{max_queue} = 1000 events wait; when a receiver is down for long
    the oldest waiting event is dropped to make room;
  - on stop, the queue gets C{flush_timeout} seconds to drain.

Every drop is logged (grouped, at most one line per 10 s) and counted for
C{/metrics}.  Each request carries C{X-Roomkit-Delivery-Attempt: N}; the
event's C{id} lets a receiver ignore a duplicate after a lost answer.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip._version import __version__

#: Client errors worth retrying: timeout, too early, too many requests.
_RETRYABLE_4XX = frozenset({408, 425, 429})
#: Seconds between two log lines about dropped events.
_DROP_LOG_INTERVAL = 10.0


@dataclass
class _Pending:
    kind: str
    body: bytes
    attempts: int = 0


class WebhookPoster:
    """
    Delivers events to one URL; see the module docstring for the policy.

    @param reactor: the reactor requests and retry timers run on.
    @param client: a C{treq.client.HTTPClient}; by default one over an
        C{Agent} with a persistent connection pool on C{reactor}.
    @ivar delivered: events the receiver accepted.
    @ivar dropped: events given up (queue full, refused, retries spent, stop).
    @ivar retries: attempts after the first, over all events.
    """

    _log = Logger()

    def __init__(
        self,
        reactor: Any,
        url: str,
        *,
        client: Any = None,
        max_queue: int = 1000,
        max_attempts: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self._reactor = reactor
        self.url = url
        self._pool = None
        if client is None:
            from treq.client import HTTPClient
            from twisted.web.client import Agent, HTTPConnectionPool

            self._pool = HTTPConnectionPool(reactor, persistent=True)
            client = HTTPClient(Agent(reactor, connectTimeout=timeout, pool=self._pool))
        self._client = client
        self._max_queue = max_queue
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._queue: deque[_Pending] = deque()
        self._current: _Pending | None = None
        self._request: Deferred[Any] | None = None
        self._retry: IDelayedCall | None = None
        self._idle: list[Deferred[None]] = []
        self._stopped = False
        self.delivered = 0
        self.dropped = 0
        self.retries = 0
        self._unlogged_drops = 0
        self._last_drop_log = float("-inf")

    @property
    def queued(self) -> int:
        """Events not yet delivered, the one being sent included."""
        return len(self._queue) + (self._current is not None)

    def post(self, event: dict[str, Any]) -> None:
        """
        Queue C{event} (JSON-able; its C{"event"} key names it in logs).
        Returns at once: delivery happens later, on the reactor.
        """
        kind = str(event.get("event", "?"))
        if self._stopped:
            self._drop(kind, "the service is stopping")
            return
        try:
            body = json.dumps(event, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError):
            self._log.failure("webhook event {kind} is not JSON; dropped", kind=kind)
            self.dropped += 1
            return
        if len(self._queue) >= self._max_queue:
            oldest = self._queue.popleft()
            self._drop(oldest.kind, f"queue full ({self._max_queue} events)")
        self._queue.append(_Pending(kind, body))
        self._next()

    def stop(self, flush_timeout: float = 5.0) -> Deferred[None]:
        """
        Give queued events C{flush_timeout} seconds, then drop the rest and
        close connections.  Events posted from now on are dropped.
        """
        self._stopped = True
        waiting = self._when_idle()
        timer = self._reactor.callLater(flush_timeout, waiting.cancel)
        done: Deferred[None] = Deferred()

        def finish(_: object) -> None:
            if timer.active():
                timer.cancel()
            self._abandon()
            if self._unlogged_drops:
                self._log.warn(
                    "webhook {url}: dropped {count} more events",
                    url=self.url,
                    count=self._unlogged_drops,
                )
                self._unlogged_drops = 0
            closing = self._pool.closeCachedConnections() if self._pool else succeed(None)
            closing.addBoth(lambda _: done.callback(None))

        waiting.addBoth(finish)
        return done

    # -- delivery

    def _next(self) -> None:
        if self._current is not None or self._retry is not None:
            return
        if not self._queue:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)
            return
        self._current = self._queue.popleft()
        self._send()

    def _send(self) -> None:
        self._retry = None
        pending = self._current
        assert pending is not None
        pending.attempts += 1
        if pending.attempts > 1:
            self.retries += 1
        headers = {
            "Content-Type": ["application/json"],
            "User-Agent": [f"roomkit-sip/{__version__}"],
            "X-Roomkit-Delivery-Attempt": [str(pending.attempts)],
        }
        d = self._client.post(
            self.url,
            data=pending.body,
            headers=headers,
            timeout=self._timeout,
            reactor=self._reactor,
        )
        d.addCallback(lambda response: response.content().addCallback(lambda _: response.code))
        self._request = d
        d.addCallbacks(
            self._answered, self._failed, callbackArgs=(pending,), errbackArgs=(pending,)
        )

    def _answered(self, status: int, pending: _Pending) -> None:
        self._request = None
        if 200 <= status < 300:
            self.delivered += 1
            self._done()
        elif 400 <= status < 500 and status not in _RETRYABLE_4XX:
            self._log.error(
                "webhook {url} refused {kind} with HTTP {status}; dropped",
                url=self.url,
                kind=pending.kind,
                status=status,
            )
            self.dropped += 1
            self._done()
        else:
            self._retry_later(pending, f"HTTP {status}")

    def _failed(self, failure: Failure, pending: _Pending) -> None:
        self._request = None
        if self._stopped and self._current is None:
            return  # cancelled by _abandon
        self._retry_later(pending, failure.getErrorMessage() or failure.type.__name__)

    def _retry_later(self, pending: _Pending, why: str) -> None:
        if pending.attempts >= self._max_attempts:
            self._log.error(
                "webhook {url}: {kind} not delivered after {attempts} attempts ({why}); dropped",
                url=self.url,
                kind=pending.kind,
                attempts=pending.attempts,
                why=why,
            )
            self.dropped += 1
            self._done()
            return
        delay = min(self._max_delay, self._base_delay * 2 ** (pending.attempts - 1))
        self._log.warn(
            "webhook {url}: {kind} attempt {attempts} failed ({why}); retrying in {delay} s",
            url=self.url,
            kind=pending.kind,
            attempts=pending.attempts,
            why=why,
            delay=delay,
        )
        self._retry = self._reactor.callLater(delay, self._send)

    def _done(self) -> None:
        self._current = None
        self._next()

    # -- stopping and dropping

    def _when_idle(self) -> Deferred[None]:
        if self._current is None and not self._queue:
            return succeed(None)
        d: Deferred[None] = Deferred(lambda d: self._idle.remove(d))
        self._idle.append(d)
        return d

    def _abandon(self) -> None:
        left = self.queued
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        self._queue.clear()
        self._current = None
        if self._request is not None:
            request, self._request = self._request, None
            request.cancel()
        if left:
            self.dropped += left
            self._log.error(
                "webhook {url}: {count} events not delivered before stop", url=self.url, count=left
            )

    def _drop(self, kind: str, why: str) -> None:
        self.dropped += 1
        self._unlogged_drops += 1
        now = self._reactor.seconds()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL:
            self._log.warn(
                "webhook {url}: dropped {count} events (last: {kind}): {why}",
                url=self.url,
                count=self._unlogged_drops,
                kind=kind,
                why=why,
            )
            self._unlogged_drops = 0
            self._last_drop_log = now
