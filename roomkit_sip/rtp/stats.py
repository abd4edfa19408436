# -*- test-case-name: tests.rtp.test_stats -*-
"""
Per-call RTP statistics: reception (RFC 3550 A.1 sequence validation, A.3
loss, A.8 interarrival jitter), what we sent (for sender reports) and a call
quality estimate (ITU-T G.107 E-model, simplified).

One L{ReceptionStats} per call.  It follows one source (SSRC) at a time: a
new SSRC starts a new source, which the verdict of L{ReceptionStats.update}
tells the caller so that it resets the jitter buffer and DTMF receiver.  The
event counters in L{Counters} are shared with the jitter buffer (which counts
late, duplicate, reordered and concealed frames) and span the whole call.
"""

from __future__ import annotations

import math

from roomkit_sip.rtp.packet import RTPPacket

__all__ = [
    "BAD_SEQUENCE",
    "IN_SEQUENCE",
    "NEW_SOURCE",
    "RESTARTED",
    "Counters",
    "ReceptionStats",
    "SenderStats",
    "mos_from_r",
    "r_factor",
]

# RFC 3550 A.1 constants.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2
_SEQ_MOD = 1 << 16

#: Verdicts of L{ReceptionStats.update}.  Play the packet.
IN_SEQUENCE = 0
#: First packet of a new SSRC: reset the jitter buffer and DTMF receiver, then play it.
NEW_SOURCE = 1
#: The source restarted its sequence numbers (A.1, two sequential packets
#: after a jump): reset the jitter buffer, then play the packet.
RESTARTED = 2
#: A jump not (yet) confirmed, or a stale packet from the previous SSRC: drop it.
BAD_SEQUENCE = 3


class Counters:
    """
    Event counters for one call, shared by the receive-path modules.

    @ivar received: RTP packets that parsed, whatever happened next.
    @ivar late: packets that arrived after the jitter buffer gave up on them.
    @ivar duplicate: packets already received.
    @ivar reordered: packets that arrived after a later one, still in time.
    @ivar concealed: lost frames released for concealment (C{plc} on).
    @ivar filled: lost frames released for silence fill (C{plc} off).
    @ivar skipped: lost frames given up with nothing released.
    @ivar dropped_invalid: datagrams that failed to parse.
    @ivar dropped_unknown_pt: packets with a payload type not negotiated.
    @ivar ssrc_changes: times the remote SSRC changed mid-call.
    """

    __slots__ = (
        "received",
        "late",
        "duplicate",
        "reordered",
        "concealed",
        "filled",
        "skipped",
        "dropped_invalid",
        "dropped_unknown_pt",
        "ssrc_changes",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {name: getattr(self, name) for name in self.__slots__}


class ReceptionStats:
    """
    Reception statistics of the current remote source (RFC 3550 A.1, A.3, A.8).

    @ivar ssrc: the current source, or C{None} before the first packet.
    @ivar jitter: interarrival jitter estimate in timestamp units (A.8).
    """

    __slots__ = (
        "clock_rate",
        "counters",
        "ssrc",
        "jitter",
        "_previous_ssrc",
        "_previous_seq",
        "_probation",
        "_max_seq",
        "_cycles",
        "_base_seq",
        "_bad_seq",
        "_received",
        "_expected_prior",
        "_received_prior",
        "_last_arrival",
        "_last_ts",
        "_lost_before",
        "_expected_before",
    )

    def __init__(self, clock_rate: int, counters: Counters | None = None) -> None:
        """
        @param clock_rate: RTP clock of the audio payload, for jitter in ms.
        @param counters: counters to share with the jitter buffer.
        """
        self.clock_rate = clock_rate
        self.counters = Counters() if counters is None else counters
        self.ssrc: int | None = None
        self._previous_ssrc: int | None = None
        self._previous_seq = 0
        self._lost_before = 0
        self._expected_before = 0
        self._start(0)

    def _start(self, seq: int) -> None:
        # A.1: a new source is on probation until MIN_SEQUENTIAL packets arrive in order.
        self._init_seq(seq)
        self._max_seq = (seq - 1) & 0xFFFF
        self._probation = MIN_SEQUENTIAL
        self.jitter = 0.0
        self._last_arrival: float | None = None
        self._last_ts = 0

    def _init_seq(self, seq: int) -> None:
        # A.1 init_seq()
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = _SEQ_MOD + 1  # so seq == bad_seq is false
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0

    def update(self, packet: RTPPacket, arrival: float, timing: bool = True) -> int:
        """
        Account for one received packet.

        @param arrival: arrival time in seconds (the reactor's C{seconds()}).
        @param timing: C{False} for packets whose timestamp does not follow
            the media clock, such as RFC 4733 events (every packet of an
            event carries the event's start time, §2.3.1): they count for
            loss but would read as jitter.
        @return: L{IN_SEQUENCE}, L{NEW_SOURCE}, L{RESTARTED} or L{BAD_SEQUENCE}.
            Packets of a source still on probation (A.1: until two arrive in
            sequence) are L{IN_SEQUENCE}, playable, but not yet counted in
            L{expected} and L{lost}.
        """
        self.counters.received += 1
        seq = packet.sequence
        verdict = IN_SEQUENCE
        if packet.ssrc != self.ssrc:
            if packet.ssrc == self._previous_ssrc and not (
                0 < (seq - self._previous_seq) & 0xFFFF < 0x8000
            ):
                # A straggler of the source we left: late, not a switch back.
                self.counters.late += 1
                return BAD_SEQUENCE
            if self.ssrc is not None:
                self.counters.ssrc_changes += 1
                self._lost_before += self.lost
                self._expected_before += self.expected
                self._previous_ssrc = self.ssrc
                self._previous_seq = self._max_seq
            self.ssrc = packet.ssrc
            self._start(seq)
            verdict = NEW_SOURCE
        # A.1 update_seq()
        udelta = (seq - self._max_seq) & 0xFFFF
        if self._probation:
            if seq == (self._max_seq + 1) & 0xFFFF:
                self._probation -= 1
                self._max_seq = seq
                if self._probation == 0:
                    self._init_seq(seq)
                    self._received += 1
            else:
                self._probation = MIN_SEQUENTIAL - 1
                self._max_seq = seq
        elif udelta < MAX_DROPOUT:
            # In order, with a permissible gap.
            if seq < self._max_seq:
                self._cycles += _SEQ_MOD
            self._max_seq = seq
            self._received += 1
        elif udelta <= _SEQ_MOD - MAX_MISORDER:
            # A very large jump: believe it after two sequential packets.
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) & 0xFFFF
                return BAD_SEQUENCE
            self._init_seq(seq)
            self._received += 1
            self._last_arrival = None
            verdict = RESTARTED
        else:
            # Duplicate or reordered within MAX_MISORDER.
            self._received += 1
        if timing:
            # A.8: D = (Rj - Ri) - (Sj - Si) in timestamp units, J += (|D| - J) / 16.
            ts = packet.timestamp
            last = self._last_arrival
            if last is not None:
                d = (arrival - last) * self.clock_rate - (
                    ((ts - self._last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                )
                self.jitter += (abs(d) - self.jitter) / 16.0
            self._last_arrival = arrival
            self._last_ts = ts
        return verdict

    @property
    def extended_max(self) -> int:
        """The extended highest sequence number received (A.3): cycles + max_seq."""
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        """Packets expected from the current source (A.3)."""
        if self.ssrc is None or self._probation:
            return 0
        return self.extended_max - self._base_seq + 1

    @property
    def lost(self) -> int:
        """Packets lost from the current source (A.3); duplicates can make it negative."""
        if self.ssrc is None or self._probation:
            return 0
        return self.expected - self._received

    @property
    def jitter_ms(self) -> float:
        """The interarrival jitter in milliseconds of the codec clock."""
        return self.jitter * 1000.0 / self.clock_rate

    @property
    def loss_rate(self) -> float:
        """Fraction (0-1) of the packets expected during the whole call that were lost."""
        expected = self._expected_before + self.expected
        if expected <= 0:
            return 0.0
        return min(1.0, max(0.0, (self._lost_before + self.lost) / expected))

    def report_fields(self) -> tuple[int, int, int, int]:
        """
        The reception report values for the current source, starting a new
        report interval (A.3).

        @return: C{(fraction_lost, cumulative_lost, extended_max, jitter)}:
            fraction in 1/256 since the previous call, cumulative loss clamped
            to the signed 24-bit field, jitter in timestamp units (A.8).
        """
        expected = self.expected
        lost = max(-0x800000, min(0x7FFFFF, expected - self._received)) if expected else 0
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self._received - self._received_prior
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return fraction, lost, self.extended_max & 0xFFFFFFFF, int(self.jitter)

    def snapshot(self, rtt: float | None = None) -> dict[str, float | int | None]:
        """
        Everything the call engine exposes as per-call statistics.

        @param rtt: round-trip time in seconds from RTCP, if known; it feeds
            the R-factor and MOS estimate.
        """
        result: dict[str, float | int | None] = dict(self.counters.as_dict())
        result["lost"] = self._lost_before + self.lost
        result["expected"] = self._expected_before + self.expected
        result["loss_rate"] = self.loss_rate
        result["jitter_ms"] = self.jitter_ms
        result["rtt_ms"] = None if rtt is None else rtt * 1000.0
        r = r_factor(self.loss_rate, self.jitter_ms, 0.0 if rtt is None else rtt * 1000.0)
        result["r_factor"] = r
        result["mos"] = mos_from_r(r)
        return result


class SenderStats:
    """
    What we sent on one stream, for sender reports (RFC 3550 §6.4.1).

    @ivar packets: RTP data packets sent.
    @ivar octets: payload octets sent (headers and padding excluded, §6.4.1).
    """

    __slots__ = ("clock_rate", "packets", "octets", "_last_ts", "_last_time")

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.packets = 0
        self.octets = 0
        self._last_ts = 0
        self._last_time: float | None = None

    def sent(self, timestamp: int, payload_size: int, now: float, timing: bool = True) -> None:
        """
        Record one packet sent at C{now}.

        @param timing: C{False} for packets whose timestamp is not the media
            clock at C{now} (RFC 4733 events keep their start timestamp).
        """
        self.packets += 1
        self.octets += payload_size
        if timing:
            self._last_ts = timestamp
            self._last_time = now

    def timestamp_at(self, now: float) -> int | None:
        """
        The RTP timestamp corresponding to C{now}, extrapolated from the last
        media packet (§6.4.1: same units and offset as the data packets), or
        C{None} before any was sent.
        """
        if self._last_time is None:
            return None
        elapsed = round((now - self._last_time) * self.clock_rate)
        return (self._last_ts + elapsed) & 0xFFFFFFFF


def r_factor(
    loss: float,
    jitter_ms: float,
    rtt_ms: float = 0.0,
    *,
    delay_ms: float = 20.0,
    ie: float = 0.0,
    bpl: float = 25.1,
    burst_r: float = 1.0,
) -> float:
    """
    Transmission rating R of the ITU-T G.107 E-model with every parameter at
    its default except delay and packet loss: C{R = 93.2 - Idd - Ie,eff}.

    The one-way delay is C{Ta = rtt/2 + 2 * jitter + delay_ms}: network
    delay, what a playout buffer sized at twice the jitter adds, and codec
    framing.  C{Idd} is G.107 (7-28) with C{mA = 100 ms}; C{Ie,eff} is
    G.107 (7-29), C{Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)} with Ppl in
    percent.  Defaults are G.711 with concealment (G.113 Appendix I:
    C{Ie = 0}, C{Bpl = 25.1}) and random loss (C{BurstR = 1}).

    @param loss: packet loss as a fraction, 0-1.
    """
    ta = rtt_ms / 2.0 + 2.0 * jitter_ms + delay_ms
    idd = 0.0
    if ta > 100.0:
        x = math.log10(ta / 100.0) / math.log10(2.0)
        idd = 25.0 * ((1.0 + x**6) ** (1 / 6) - 3.0 * (1.0 + (x / 3.0) ** 6) ** (1 / 6) + 2.0)
    ppl = 100.0 * min(1.0, max(0.0, loss))
    ie_eff = ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)
    return 93.2 - idd - ie_eff


def mos_from_r(r: float) -> float:
    """
    Estimated mean opinion score (1-4.5) from R, per G.107 Annex B
    (C{1 + 0.035 R + R (R - 60) (100 - R) 7e-6}), floored at 1 where the
    cubic dips below it for R under about 6.5.
    """
    if r <= 0.0:
        return 1.0
    if r >= 100.0:
        return 4.5
    return max(1.0, 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6)
