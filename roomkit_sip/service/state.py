# -*- test-case-name: tests.service.test_service -*-
"""Where the service is in its life, for C{/healthz} and C{/metrics}."""

from __future__ import annotations

STARTING = "starting"
SERVING = "serving"
DRAINING = "draining"
STOPPED = "stopped"


class ServiceState:
    """
    The phase of the service: L{STARTING} until the SIP ports are bound,
    L{SERVING}, L{DRAINING} from the stop request until the last call is
    gone, then L{STOPPED}.  Only the service changes it; the web endpoints
    read it.
    """

    def __init__(self) -> None:
        self.phase = STARTING

    @property
    def serving(self) -> bool:
        return self.phase == SERVING

    @property
    def draining(self) -> bool:
        return self.phase == DRAINING
