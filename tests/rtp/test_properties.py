"""Property tests for the sans-IO RTP core: parsers, round trips, the jitter buffer, DTMF."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.rtp.dtmf import DTMFReceiver, dtmf_packets, parse_event
from roomkit_sip.rtp.errors import EventParseError, RTCPParseError, RTPParseError
from roomkit_sip.rtp.jitter import LOST, NORMAL, JitterBuffer
from roomkit_sip.rtp.packet import (
    RTPPacket,
    build_rtp,
    parse_rtp,
    seq_add,
    seq_diff,
    ts_add,
    ts_diff,
)
from roomkit_sip.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    build_bye,
    build_rr,
    build_sdes,
    build_sr,
    parse_rtcp,
)

u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

# Bytes shaped like an RTP header (version 2, any flags) so that the deeper
# branches are reached, not just the version check.
rtp_like = st.builds(
    lambda b0, rest: bytes((b0,)) + rest, st.integers(0x80, 0xBF), st.binary(max_size=90)
)
rtcp_like = st.builds(
    lambda b0, kind, words, rest: bytes((b0, kind, 0, words)) + rest,
    st.integers(0x80, 0xBF),
    st.integers(200, 206),
    st.integers(0, 12),
    st.binary(max_size=90),
)

blocks = st.lists(
    st.builds(ReportBlock, u32, u8, st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32),
    max_size=4,
).map(tuple)
short_text = st.text(max_size=60)  # at most 240 octets in UTF-8
words = st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))  # whole 32-bit words


@st.composite
def valid_compound(draw) -> bytes:
    if draw(st.booleans()):
        data = build_sr(
            draw(u32),
            draw(st.integers(0, 2**64 - 1)),
            draw(u32),
            draw(u32),
            draw(u32),
            draw(blocks),
        )
    else:
        data = build_rr(draw(u32), draw(blocks))
    data += build_sdes(draw(u32), draw(short_text))
    if draw(st.booleans()):
        data += build_bye(draw(st.lists(u32, max_size=3)), draw(st.none() | short_text))
    return data


@st.composite
def mutated_compound(draw) -> bytes:
    data = bytearray(draw(valid_compound()))
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(u8)
    return bytes(data[: draw(st.integers(0, len(data)))])


class ParserProperties(SynchronousTestCase):
    @given(st.binary(max_size=100) | rtp_like)
    def test_rtp_parser_raises_only_its_error(self, data: bytes) -> None:
        try:
            packet = parse_rtp(data)
        except RTPParseError as e:
            self.assertIsInstance(e.reason, str)
        else:
            self.assertLessEqual(len(packet.payload), len(data) - 12)

    @given(st.binary(max_size=100) | rtcp_like | mutated_compound())
    def test_rtcp_parser_raises_only_its_error(self, data: bytes) -> None:
        try:
            parse_rtcp(data)
        except RTCPParseError as e:
            self.assertIsInstance(e.reason, str)

    @given(st.binary(max_size=12))
    def test_event_parser_raises_only_its_error(self, payload: bytes) -> None:
        try:
            parse_event(payload)
        except EventParseError:
            self.assertLess(len(payload), 4)
        receiver = DTMFReceiver(8000)
        receiver.receive(RTPPacket(False, 101, 0, 0, 1, payload), 0.0)
        receiver.flush()

    @given(
        st.builds(
            RTPPacket,
            st.booleans(),
            # RFC 5761 §4: types 64-95 would read as RTCP when the marker is set.
            st.integers(0, 63) | st.integers(96, 127),
            u16,
            u32,
            u32,
            st.binary(max_size=40),
            st.lists(u32, max_size=15).map(tuple),
            st.none() | st.tuples(u16, words),
        ),
        st.integers(0, 255),
    )
    def test_rtp_round_trip(self, packet: RTPPacket, padding: int) -> None:
        data = build_rtp(
            packet.payload_type,
            packet.sequence,
            packet.timestamp,
            packet.ssrc,
            packet.payload,
            marker=packet.marker,
            csrcs=packet.csrcs,
            extension=packet.extension,
            padding=padding,
        )
        self.assertEqual(parse_rtp(data), packet)

    @given(
        u32,
        st.integers(0, 2**64 - 1),
        u32,
        u32,
        u32,
        blocks,
        u32,
        short_text,
        st.lists(u32, max_size=5),
        st.none() | short_text,
    )
    def test_rtcp_round_trip(
        self, ssrc, ntp, ts, packets, octets, reports, other, cname, sources, reason
    ) -> None:
        data = build_sr(ssrc, ntp, ts, packets, octets, reports) + build_rr(other, reports)
        data += build_sdes(ssrc, cname) + build_bye(sources, reason)
        self.assertEqual(
            parse_rtcp(data),
            [
                SenderReport(ssrc, ntp, ts, packets, octets, reports),
                ReceiverReport(other, reports),
                SourceDescription(((ssrc, ((1, cname.encode()),)),)),
                Bye(tuple(sources), reason),
            ],
        )

    @given(u16, u16, u32, u32)
    def test_modular_arithmetic(self, a: int, b: int, c: int, d: int) -> None:
        self.assertEqual(seq_add(a, seq_diff(b, a)), b)
        self.assertEqual(ts_add(c, ts_diff(d, c)), d)
        self.assertLessEqual(abs(seq_diff(b, a)), 0x8000)


def audio(seq: int) -> RTPPacket:
    seq &= 0xFFFF
    return RTPPacket(False, 0, seq, (seq * 160) & 0xFFFFFFFF, 1, seq.to_bytes(2, "big"))


@st.composite
def shuffled_within_capacity(draw):
    """
    The first packet, then windows of at most `capacity` packets, each
    shuffled.  The first packet comes first because it starts the stream:
    with no prefetch it is played at once.
    """
    capacity = draw(st.integers(1, 16))
    start = draw(st.integers(65500, 65535 + 100)) & 0xFFFF
    count = draw(st.integers(1, 80))
    order = [0]
    i = 1
    while i < count:
        size = draw(st.integers(1, capacity))
        window = list(range(i, min(count, i + size)))
        order += draw(st.permutations(window))
        i += size
    return capacity, start, count, order


class JitterProperties(SynchronousTestCase):
    @given(shuffled_within_capacity(), st.integers(0, 16))
    def test_every_packet_once_in_order(self, case, prefetch) -> None:
        capacity, start, count, order = case
        prefetch = min(prefetch, capacity)
        buffer = JitterBuffer(capacity=capacity, prefetch=prefetch, max_wait=None)
        released = []
        for offset in order:
            released += buffer.push(audio(start + offset), 0.0)
        released += buffer.flush()
        self.assertEqual(
            [(f.kind, f.sequence) for f in released],
            [(NORMAL, (start + i) & 0xFFFF) for i in range(count)],
        )
        counters = buffer.counters
        self.assertEqual((counters.late, counters.duplicate, counters.concealed), (0, 0, 0))

    @given(
        st.lists(st.integers(0, 60), min_size=1, max_size=120),
        st.integers(1, 12),
        st.integers(65500, 65535),
        st.lists(st.floats(0, 0.05), min_size=120, max_size=120),
    )
    def test_any_arrival_order(self, offsets, capacity, start, gaps) -> None:
        # Duplicates, losses and reordering, with time passing: nothing is
        # released twice, NORMAL frames come out in order, and every pushed
        # packet is either played or counted late or duplicate.
        buffer = JitterBuffer(capacity=capacity, skip_gaps=False, max_wait=0.06, max_fill=100)
        released = []
        now = 0.0
        for offset, gap in zip(offsets, gaps):
            now += gap
            released += buffer.poll(now)
            released += buffer.push(audio(start + offset), now)
        released += buffer.flush()
        positions = [(f.sequence - start) & 0xFFFF for f in released]
        self.assertEqual(positions, sorted(set(positions)))
        played = {p for p, f in zip(positions, released) if f.kind == NORMAL}
        self.assertTrue(played <= set(offsets))
        self.assertEqual(positions, list(range(positions[0], positions[-1] + 1)))
        lost = sum(1 for f in released if f.kind == LOST)
        counters = buffer.counters
        self.assertEqual(len(played) + counters.late + counters.duplicate, len(offsets))
        self.assertEqual(lost, counters.concealed)


class DTMFProperties(SynchronousTestCase):
    @given(
        st.sampled_from("0123456789*#ABCD!"),
        st.integers(20, 8000),
        u16,
        u32,
        st.data(),
    )
    def test_one_digit_whatever_arrives(self, digit, duration_ms, seq, ts, data) -> None:
        burst = dtmf_packets(
            digit,
            duration_ms,
            payload_type=101,
            ssrc=1,
            timestamp=ts,
            sequence=seq,
            clock_rate=8000,
        )
        packets = [parse_rtp(d) for _, d in burst.packets]
        arrived = data.draw(
            st.lists(st.sampled_from(packets), min_size=1, max_size=2 * len(packets))
        )
        receiver = DTMFReceiver(8000)
        digits = []
        for i, packet in enumerate(arrived):
            digits += receiver.receive(packet, i * 0.01)
        digits += receiver.flush()
        self.assertEqual([d.digit for d in digits], [digit])
        if any(parse_event(p.payload).end for p in arrived):
            self.assertEqual(digits[0].duration_ms, burst.duration / 8)
        else:
            self.assertLessEqual(digits[0].duration_ms, burst.duration / 8)
