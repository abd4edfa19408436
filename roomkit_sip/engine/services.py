# -*- test-case-name: tests.engine.test_engine -*-
"""
L{EngineServices}: the collaborators every call of one engine shares, built
once by L{roomkit_sip.engine.SIPEngine} and handed to each pending INVITE
and call, so none of them reaches back into the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred

from roomkit_sip.engine.config import EngineConfig
from roomkit_sip.engine.dialog_requests import DialogSender
from roomkit_sip.engine.notify import Notifier
from roomkit_sip.engine.registry import CallRegistry
from roomkit_sip.engine.stats import EngineStats
from roomkit_sip.engine.transports import SIPTransports
from roomkit_sip.media.config import MediaConfig
from roomkit_sip.rtp.pacing import MediaClock
from roomkit_sip.sip.dialog import DialogTable
from roomkit_sip.transport.addressing import LocalAddresses
from roomkit_sip.transport.ports import RTPPortAllocator

__all__ = ["EngineServices"]


@dataclass(eq=False)
class EngineServices:
    """
    @ivar reactor: the engine's reactor (clock and sockets).
    @ivar rtp_addresses: our media address toward each peer (SDP).
    @ivar random: uniform [0, 1), for the random waits of RFC 3261 §14.
    @ivar pending_byes: BYE transactions still running (what C{stop()}
        waits for before closing the transports).
    """

    reactor: Any
    config: EngineConfig
    media_config: MediaConfig
    transports: SIPTransports
    sender: DialogSender
    dialogs: DialogTable
    registry: CallRegistry
    allocator: RTPPortAllocator
    media_clock: MediaClock
    rtp_addresses: LocalAddresses
    notifier: Notifier
    stats: EngineStats
    random: Callable[[], float]
    draining: bool = False
    pending_byes: set[Deferred[Any]] = field(default_factory=set)

    def track_bye(self, d: Deferred[Any]) -> None:
        """Remember a BYE until its transaction ends (for a clean stop)."""
        self.pending_byes.add(d)
        d.addBoth(lambda result: (self.pending_byes.discard(d), None)[1])

    def server_headers(self) -> list[tuple[str, str]]:
        """The C{Server} header of our responses (§20.35)."""
        return [("Server", self.config.user_agent)]
