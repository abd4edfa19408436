# -*- test-case-name: tests.rtp.test_rtcp -*-
"""
L{RTCPSession}: the RTCP state of one call (RFC 3550 §6), sans-IO.  It builds
our compound reports, says when the next is due, and digests the peer's into
a L{RemoteReport}.  The packet formats are L{roomkit_sip.rtp.rtcp}'s, which
re-exports both classes.

The packet functions are imported at the bottom: C{rtcp} re-exports this
module's classes with an import at its own bottom, so each module has defined
its names before it reaches for the other's, whichever is imported first.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable

from roomkit_sip.rtp.stats import ReceptionStats, SenderStats

__all__ = ["RTCPSession", "RemoteReport"]

#: IPv4 + UDP header octets, counted in the average RTCP size (§6.3.3).
_UDP_IP_OVERHEAD = 28


class RemoteReport:
    """What the peer reports about our stream, digested from its SR/RR."""

    __slots__ = (
        "fraction_lost",
        "lost",
        "jitter",
        "jitter_ms",
        "rtt",
        "updated",
        "bye",
        "bye_reason",
    )

    def __init__(self) -> None:
        self.fraction_lost = 0.0  # 0-1, over the peer's last report interval
        self.lost = 0
        self.jitter = 0  # timestamp units of our clock
        self.jitter_ms = 0.0
        self.rtt: float | None = None  # seconds
        self.updated: float | None = None  # when the last report block arrived
        self.bye = False
        self.bye_reason: str | None = None


class RTCPSession:
    """
    RTCP state of one call (sans-IO): builds our compound reports, times
    them, and digests the peer's.  Call L{report} when L{interval} seconds
    have passed since the previous one, L{bye} on hang-up, L{receive} for
    each datagram from the peer's RTCP port.

    The interval follows §6.3 and A.7 (randomised over [0.5, 1.5] of a
    deterministic interval, at least 5 s or 2.5 s before the first report,
    divided by e - 3/2); with two members the 5 s minimum governs, so reports
    go every 2-6 s, 4.1 s on average.  Timer reconsideration (§6.3.6) is not
    needed for a two-party call: the member count does not change.

    @ivar remote: L{RemoteReport} about our stream.
    """

    __slots__ = (
        "ssrc",
        "cname",
        "reception",
        "sender",
        "bandwidth",
        "min_interval",
        "remote",
        "_random",
        "_avg_size",
        "_initial",
        "_sent_marks",
        "_received_marks",
        "_lsr",
        "_lsr_time",
        "_lsr_ssrc",
    )

    def __init__(
        self,
        ssrc: int,
        cname: str,
        reception: ReceptionStats,
        sender: SenderStats,
        *,
        bandwidth: float = 64000.0,
        min_interval: float = 5.0,
        random: Callable[[], float] = _random.random,
    ) -> None:
        """
        @param bandwidth: session bandwidth in bit/s; RTCP gets 5% of it (§6.2).
        @param random: a uniform [0, 1) source, injected for tests.
        """
        self.ssrc = ssrc
        self.cname = cname
        self.reception = reception
        self.sender = sender
        self.bandwidth = bandwidth
        self.min_interval = min_interval
        self.remote = RemoteReport()
        self._random = random
        self._avg_size = 100.0 + _UDP_IP_OVERHEAD  # A.7: the probable first packet's size
        self._initial = True
        # sender.packets and reception.counters.received at the last two reports.
        self._sent_marks = (0, 0)
        self._received_marks = (0, 0)
        self._lsr = 0
        self._lsr_time = 0.0
        self._lsr_ssrc: int | None = None

    def interval(self) -> float:
        """Seconds until the next report (§6.3.1, A.7 C{rtcp_interval})."""
        we_sent = self._we_sent()
        members = 2 if self.reception.ssrc is not None else 1
        senders = int(we_sent) + int(self.reception.counters.received != self._received_marks[0])
        bandwidth = 0.05 * self.bandwidth / 8.0  # octets/s
        n = members
        if senders <= members * 0.25:
            if we_sent:
                bandwidth *= 0.25
                n = senders
            else:
                bandwidth *= 0.75
                n -= senders
        t = max(
            self._avg_size * n / bandwidth,
            self.min_interval / 2 if self._initial else self.min_interval,
        )
        return t * (self._random() + 0.5) / (math.e - 1.5)

    def report(self, now: float) -> bytes:
        """Our compound report: SR if we sent media lately, else RR; then SDES (§6.1, §6.4)."""
        blocks = []
        reception = self.reception
        received = reception.counters.received
        if reception.ssrc is not None and received != self._received_marks[1]:
            fraction, lost, highest, jitter = reception.report_fields()
            lsr = dlsr = 0
            if self._lsr_ssrc == reception.ssrc:
                lsr = self._lsr
                dlsr = min(0xFFFFFFFF, int((now - self._lsr_time) * 65536))
            blocks.append(ReportBlock(reception.ssrc, fraction, lost, highest, jitter, lsr, dlsr))
        timestamp = self.sender.timestamp_at(now)
        if self._we_sent() and timestamp is not None:
            head = build_sr(
                self.ssrc,
                ntp_from_unix(now),
                timestamp,
                self.sender.packets,
                self.sender.octets,
                blocks,
            )
        else:
            head = build_rr(self.ssrc, blocks)
        self._sent_marks = (self._sent_marks[1], self.sender.packets)
        self._received_marks = (self._received_marks[1], received)
        self._initial = False
        data = head + build_sdes(self.ssrc, self.cname)
        self._account(len(data))
        return data

    def bye(self, now: float, reason: str | None = None) -> bytes:
        """The last compound packet: a report, SDES, then BYE (§6.1, §6.6)."""
        return self.report(now) + build_bye([self.ssrc], reason)

    def receive(self, data: bytes, now: float) -> list[RTCPPacket]:
        """
        Digest a compound packet from the peer.

        @return: its packets, for the caller's logs.
        @raise RTCPParseError: if it is invalid (count and drop it).
        """
        packets = parse_rtcp(data)
        self._account(len(data))
        remote = self.remote
        for packet in packets:
            if isinstance(packet, SenderReport):
                self._lsr = ntp_middle(packet.ntp)
                self._lsr_time = now
                self._lsr_ssrc = packet.ssrc
            if isinstance(packet, (SenderReport, ReceiverReport)):
                for block in packet.reports:
                    if block.ssrc == self.ssrc:
                        remote.fraction_lost = block.fraction_lost / 256.0
                        remote.lost = block.lost
                        remote.jitter = block.jitter
                        remote.jitter_ms = block.jitter * 1000.0 / self.sender.clock_rate
                        rtt = rtt_from_report(ntp_from_unix(now), block.lsr, block.dlsr)
                        if rtt is not None:
                            remote.rtt = rtt
                        remote.updated = now
            elif isinstance(packet, Bye):
                remote.bye = True
                remote.bye_reason = packet.reason
        return packets

    def _we_sent(self) -> bool:
        # §6.4: SR if we sent data since the last report or the one before.
        return self.sender.packets != self._sent_marks[0]

    def _account(self, size: int) -> None:
        # §6.3.3: avg_rtcp_size = 1/16 * packet_size + 15/16 * avg_rtcp_size.
        self._avg_size += (size + _UDP_IP_OVERHEAD - self._avg_size) / 16.0


from roomkit_sip.rtp.rtcp import (  # noqa: E402
    Bye,
    ReceiverReport,
    ReportBlock,
    RTCPPacket,
    SenderReport,
    build_bye,
    build_rr,
    build_sdes,
    build_sr,
    ntp_from_unix,
    ntp_middle,
    parse_rtcp,
    rtt_from_report,
)
