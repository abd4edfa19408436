# -*- test-case-name: tests.media.test_routing -*-
"""
Where one call's RTP and RTCP come from and go to.

Sources (RFC 3550 §8.2 leaves validating them to the application): with
symmetric RTP the first RTP packet of a negotiated payload type latches the
remote address; later packets from elsewhere are dropped and counted, and
we send to the latched address (RFC 4961 symmetric RTP, the usual NAT
traversal: the SDP of a caller behind NAT names an address we cannot reach).
Without it packets are taken from anywhere and those not from the SDP address
only counted.  A new remote address from a re-INVITE releases the latch.

Destinations are checked with L{check_target}: C{0.0.0.0} is hold (no RTP,
no RTCP); port 0, multicast, broadcast, unspecified addresses and names are
refused and logged, and then only a latched address (symmetric RTP) is
used.  RTCP goes to the source of the peer's RTCP once latched, else to the
latched RTP address + 1, else to the SDP's RTCP address (RTP port + 1
unless C{a=rtcp} said otherwise, RFC 3550 §11).
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.logger import Logger

from roomkit_sip.media.address import HOLD, OK, check_target
from roomkit_sip.transport.rtp import Addr

#: Module-level on purpose: see "Logging" in docs/architecture.md.
_log = Logger()

__all__ = ["MediaRouting"]


class MediaRouting:
    """
    @ivar rtp_dest: where RTP goes, C{None} for nowhere.
    @ivar rtcp_dest: where RTCP goes, C{None} for nowhere.
    @ivar status: the verdict on the SDP address (L{OK}, C{"hold"}, or a refusal).
    @ivar dropped_source: RTP packets dropped for coming from elsewhere than
        the latched address.
    @ivar foreign_source: RTP packets taken from elsewhere than the SDP address.
    """

    def __init__(self, symmetric: bool) -> None:
        self.symmetric = symmetric
        self.status = "unknown"
        self.rtp_dest: Addr | None = None
        self.rtcp_dest: Addr | None = None
        self.dropped_source = 0
        self.foreign_source = 0
        self._sdp_rtp: Addr | None = None
        self._sdp_rtcp: Addr | None = None
        self._latched_rtp: Addr | None = None
        self._latched_rtcp: Addr | None = None

    def set_remote(self, rtp: Addr | None, rtcp: Addr | None = None) -> str:
        """
        Take the remote addresses from SDP, releasing any latch.

        @return: L{OK}, C{"hold"}, or why C{rtp} was refused.
        """
        status = check_target(rtp)
        self.status = status
        self._sdp_rtp = rtp if status == OK else None
        if rtcp is None and rtp is not None and status == OK:
            rtcp = (rtp[0], rtp[1] + 1)
        self._sdp_rtcp = rtcp if check_target(rtcp) == OK else None
        self._latched_rtp = self._latched_rtcp = None
        if status not in (OK, HOLD, "unknown"):
            _log.warn("refusing to send RTP to {addr}: {reason}", addr=rtp, reason=status)
        self._update()
        return status

    def accept(self, addr: Addr, payload_type: int, negotiated: Callable[[int], bool]) -> bool:
        """
        Whether to take an RTP packet from C{addr}; latches on the first one
        whose payload type is C{negotiated} when symmetric.
        """
        if self.symmetric:
            latched = self._latched_rtp
            if latched is None:
                if negotiated(payload_type):
                    self._latched_rtp = addr
                    self._update()
                return True
            if addr != latched:
                self.dropped_source += 1
                return False
            return True
        if addr != self._sdp_rtp and self._sdp_rtp is not None:
            self.foreign_source += 1
        return True

    def rtcp_from(self, addr: Addr) -> None:
        """An RTCP packet came from C{addr}: latch RTCP there when symmetric."""
        if (
            self.symmetric
            and self._latched_rtcp is None
            and (self._latched_rtp is None or addr[0] == self._latched_rtp[0])
        ):
            self._latched_rtcp = addr
            self._update()

    def _update(self) -> None:
        rtp = rtcp = None
        if self.status != HOLD:
            latched = self._latched_rtp
            rtp = latched if latched is not None else self._sdp_rtp
            if self._latched_rtcp is not None:
                rtcp = self._latched_rtcp
            elif latched is not None:
                rtcp = (latched[0], latched[1] + 1)
            else:
                rtcp = self._sdp_rtcp
        self.rtp_dest = rtp
        self.rtcp_dest = rtcp
