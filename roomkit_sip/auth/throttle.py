# -*- test-case-name: tests.auth.test_throttle -*-
"""
Slowing down password guessing, per source address, in bounded memory.

The policy, with the defaults:

  - failures are counted per source within a window of C{60 s} that starts
    at the first failure;
  - the n-th failure of a window is answered after C{min(8, 0.5 * 2**(n-1))}
    seconds (0.5, 1, 2, 4, 8, 8, ...), so a serial guesser gets about ten
    tries a minute;
  - the 10th failure of a window blocks the source for C{300 s}: every
    request from it is refused at once, before any user lookup;
  - a success clears the source's record, so one misconfigured extension
    behind a PBX does not lock out its healthy neighbours;
  - at most 10,000 sources are remembered, least recently active dropped
    first, so a flood from many addresses costs bounded memory (at the price
    of forgetting some penalties early).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

WINDOW = 60.0
MAX_FAILURES = 10
COOLDOWN = 300.0
BASE_DELAY = 0.5
MAX_DELAY = 8.0
MAX_SOURCES = 10_000


@dataclass
class _Record:
    window_start: float
    failures: int = 0
    blocked_until: float = 0.0


class FailureThrottle:
    """
    Penalties for sources that fail authentication; time comes from C{clock}.

    The numbers are parameters so that operators and tests can change them;
    the module docstring explains the defaults.
    """

    def __init__(
        self,
        clock: IReactorTime,
        *,
        window: float = WINDOW,
        max_failures: int = MAX_FAILURES,
        cooldown: float = COOLDOWN,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        if max_failures < 1 or max_sources < 1:
            raise ValueError("max_failures and max_sources must be at least 1")
        self._clock = clock
        self._window = window
        self._max_failures = max_failures
        self._cooldown = cooldown
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_sources = max_sources
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def _current(self, source: str, now: float) -> _Record | None:
        record = self._records.get(source)
        if record is None:
            return None
        if record.blocked_until <= now and now - record.window_start > self._window:
            del self._records[source]
            return None
        return record

    def blocked(self, source: str) -> bool:
        """Whether C{source} is in its cool-down: refuse it without a lookup."""
        now = self._clock.seconds()
        record = self._current(source, now)
        return record is not None and record.blocked_until > now

    def failure(self, source: str) -> float:
        """
        Count a failed attempt from C{source}.

        @return: seconds to wait before answering it.
        """
        now = self._clock.seconds()
        record = self._current(source, now)
        if record is None or record.blocked_until and record.blocked_until <= now:
            record = _Record(now)
        record.failures += 1
        if record.failures >= self._max_failures:
            record.blocked_until = now + self._cooldown
        self._records[source] = record
        self._records.move_to_end(source)
        while len(self._records) > self._max_sources:
            self._records.popitem(last=False)
        return min(self._max_delay, self._base_delay * 2.0 ** min(record.failures - 1, 64))

    def success(self, source: str) -> None:
        """C{source} proved a password: forget its failures."""
        self._records.pop(source, None)
