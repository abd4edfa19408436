# -*- test-case-name: tests.engine.test_engine -*-
"""
Engine-wide counters, as a plain dict for metrics and C{/healthz}.

The service reads C{rejected} (final answers of 300 or more to new INVITEs,
by status) and C{auth_failures} (403s from digest authentication); the rest
is for operators.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["EngineStats"]


class EngineStats:
    """
    @ivar invites: new INVITEs received (retransmissions excluded).
    @ivar answered: calls that reached C{call_answered}.
    @ivar rejected: final answers >= 300 to new INVITEs, by status.
    @ivar auth_failures: INVITEs refused by digest authentication (403).
    @ivar cancelled: INVITEs cancelled before the answer (487).
    @ivar ended: answered calls ended, by C{disconnect_reason}.
    @ivar dtmf_events: key presses reported (RFC 4733 and INFO).
    """

    def __init__(self) -> None:
        self.invites = 0
        self.answered = 0
        self.rejected: Counter[int] = Counter()
        self.auth_failures = 0
        self.cancelled = 0
        self.ended: Counter[str] = Counter()
        self.dtmf_events = 0

    def snapshot(self, **live: Any) -> dict[str, Any]:
        """The counters, with C{live} values (calls active, ports...) merged in."""
        return {
            "invites": self.invites,
            "calls_total": self.answered,
            "rejected": {int(k): v for k, v in sorted(self.rejected.items())},
            "auth_failures": self.auth_failures,
            "cancelled": self.cancelled,
            "ended": dict(sorted(self.ended.items())),
            "dtmf_events": self.dtmf_events,
            **live,
        }
