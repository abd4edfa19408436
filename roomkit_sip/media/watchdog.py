# -*- test-case-name: tests.media.test_watchdog -*-
"""
Notices when a call's media stops, or never starts, and says so once.

Two clocks, one timer: until the first RTP packet, the establishment
timeout runs from the start (C{"media_not_established"}); after it, the
inactivity timeout runs from the latest packet (C{"media_lost"}).  The owner
(the call engine) sends BYE.

A packet only records its arrival time (L{MediaWatchdog.activity} is on the
per-packet path): the timer is not moved for every packet, it fires at the
earliest possible expiry and, finding a newer packet, re-arms for the expiry
that packet implies.  So the timer is touched once per timeout period, not
50 times a second.

While receiving is not expected (hold, C{sendonly}/C{inactive}) the watchdog
is paused; on resume the period starts afresh, so a long hold does not end the
call the moment it is lifted.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["MEDIA_LOST", "MEDIA_NOT_ESTABLISHED", "MediaWatchdog"]

MEDIA_LOST = "media_lost"
MEDIA_NOT_ESTABLISHED = "media_not_established"


class MediaWatchdog:
    """
    @ivar fired: the reason reported, or C{None}.
    """

    def __init__(
        self,
        clock: IReactorTime,
        inactivity: float,
        establishment: float,
        on_timeout: Callable[[str], object] | None,
    ) -> None:
        """
        @param inactivity: seconds without RTP once it flowed; 0 disables.
        @param establishment: seconds for the first RTP packet; 0 disables.
        """
        self._clock = clock
        self._inactivity = inactivity
        self._establishment = establishment
        self._on_timeout = on_timeout
        self._timer: IDelayedCall | None = None
        self._established = False
        self._last = 0.0
        self._window_start = 0.0
        self._paused = True
        self._stopped = False
        self.fired: str | None = None

    @property
    def paused(self) -> bool:
        return self._paused

    def activity(self, now: float) -> None:
        """An RTP packet arrived at C{now}."""
        self._last = now
        if not self._established:
            self._established = True
            if not self._paused:
                self._arm()

    def resume(self) -> None:
        """Receiving is expected (again): start a fresh period."""
        if self._stopped or not self._paused:
            return
        self._paused = False
        now = self._clock.seconds()
        self._window_start = now
        self._last = now
        self._arm()

    def pause(self) -> None:
        """Receiving is not expected: no timeout until L{resume}."""
        self._paused = True
        self._cancel()

    def stop(self) -> None:
        """For good (the session closes)."""
        self._stopped = True
        self._paused = True
        self._cancel()

    def _cancel(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _due(self) -> float | None:
        if self._established:
            return self._last + self._inactivity if self._inactivity > 0 else None
        if self._establishment > 0:
            return self._window_start + self._establishment
        return None

    def _arm(self) -> None:
        self._cancel()
        if self._stopped or self._paused:
            return
        due = self._due()
        if due is not None:
            self._timer = self._clock.callLater(max(0.0, due - self._clock.seconds()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._stopped or self._paused:
            return
        due = self._due()
        if due is None:
            return
        if self._clock.seconds() < due - 1e-6:
            self._arm()  # a packet came since the timer was set
            return
        reason = MEDIA_LOST if self._established else MEDIA_NOT_ESTABLISHED
        self.fired = reason
        self.stop()
        _log.info("RTP watchdog: {reason}", reason=reason)
        if self._on_timeout is not None:
            try:
                self._on_timeout(reason)
            except Exception:
                _log.failure("on_media_timeout callback failed")
