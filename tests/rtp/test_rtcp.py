"""Tests for L{roomkit_sip.rtp.rtcp}."""

import math

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.rtp import errors
from roomkit_sip.rtp.packet import RTPPacket
from roomkit_sip.rtp.rtcp import (
    Bye,
    OtherPacket,
    ReceiverReport,
    ReportBlock,
    RTCPParseError,
    RTCPSession,
    SenderReport,
    SourceDescription,
    build_bye,
    build_rr,
    build_sdes,
    build_sr,
    ntp_from_unix,
    ntp_middle,
    parse_rtcp,
    rtt_from_report,
    unix_from_ntp,
)
from roomkit_sip.rtp.stats import ReceptionStats, SenderStats

BLOCK = ReportBlock(0x0A0B0C0D, 64, -5, 0x10005, 37, 0xB7052000, 0x54000)
RR_BYTES = (
    b"\x81\xc9\x00\x07\x01\x02\x03\x04"
    b"\x0a\x0b\x0c\x0d\x40\xff\xff\xfb\x00\x01\x00\x05\x00\x00\x00\x25"
    b"\xb7\x05\x20\x00\x00\x05\x40\x00"
)
SDES_AB = b"\x81\xca\x00\x03\x00\x00\x00\x09\x01\x02ab\x00\x00\x00\x00"


class BuildTests(SynchronousTestCase):
    def test_receiver_report_bytes(self) -> None:
        self.assertEqual(build_rr(0x01020304, [BLOCK]), RR_BYTES)

    def test_sender_report_header(self) -> None:
        data = build_sr(1, 2**63, 160, 5, 800)
        self.assertEqual(len(data), 28)
        self.assertEqual(data[:4], b"\x80\xc8\x00\x06")

    def test_sdes_end_item_and_alignment(self) -> None:
        self.assertEqual(build_sdes(9, "ab"), SDES_AB)
        # 9 octets of chunk, then the end item and padding to 12.
        abc = b"\x81\xca\x00\x03\x00\x00\x00\x09\x01\x03abc" + bytes(3)
        self.assertEqual(build_sdes(9, "abc"), abc)
        self.assertRaises(ValueError, build_sdes, 9, "x" * 256)

    def test_bye(self) -> None:
        self.assertEqual(build_bye([1], "x"), b"\x81\xcb\x00\x02\x00\x00\x00\x01\x01x\x00\x00")
        self.assertEqual(
            build_bye([1, 2]), b"\x82\xcb\x00\x02" + bytes(3) + b"\x01" + bytes(3) + b"\x02"
        )

    def test_limits(self) -> None:
        self.assertRaises(ValueError, build_rr, 1, [BLOCK] * 32)
        self.assertRaises(ValueError, build_bye, list(range(32)))


class ParseTests(SynchronousTestCase):
    def assertInvalid(self, data: bytes, reason: str) -> None:
        err = self.assertRaises(RTCPParseError, parse_rtcp, data)
        self.assertEqual(err.reason, reason)

    def test_receiver_report(self) -> None:
        self.assertEqual(parse_rtcp(RR_BYTES), [ReceiverReport(0x01020304, (BLOCK,))])

    def test_compound_round_trip(self) -> None:
        blocks = (
            ReportBlock(1, 0, 0x7FFFFF, 2**32 - 1, 0, 0, 0),
            ReportBlock(2, 255, -0x800000, 0, 2**32 - 1, 2**32 - 1, 2**32 - 1),
        )
        data = build_sr(7, 0x0123456789ABCDEF, 99, 10, 1600, blocks)
        data += build_sdes(7, "user@host") + build_bye([7], "hanging up")
        self.assertEqual(
            parse_rtcp(data),
            [
                SenderReport(7, 0x0123456789ABCDEF, 99, 10, 1600, blocks),
                SourceDescription(((7, ((1, b"user@host"),)),)),
                Bye((7,), "hanging up"),
            ],
        )

    def test_several_chunks_and_items(self) -> None:
        body = b"\x00\x00\x00\x01\x01\x01a\x02\x03bob\x00\x00\x00\x00"  # CNAME, NAME, end
        body += b"\x00\x00\x00\x02\x01\x01z\x00"
        sdes = b"\x82\xca" + bytes((0, len(body) // 4)) + body
        (_, description) = parse_rtcp(build_rr(5) + sdes)
        self.assertEqual(description.chunks[0], (1, ((1, b"a"), (2, b"bob"))))
        self.assertEqual((description.cname(1), description.cname(2)), ("a", "z"))
        self.assertIsNone(description.cname(3))

    def test_other_packet_types_kept(self) -> None:
        app = b"\x83\xcc\x00\x02\x00\x00\x00\x05TEST"
        self.assertEqual(
            parse_rtcp(build_rr(5) + app)[1], OtherPacket(204, 3, b"\x00\x00\x00\x05TEST")
        )

    def test_profile_extension_ignored(self) -> None:
        data = bytearray(build_rr(5, [BLOCK]) + b"EXTN")
        data[3] += 1
        self.assertEqual(parse_rtcp(bytes(data)), [ReceiverReport(5, (BLOCK,))])

    def test_padding_on_last_packet(self) -> None:
        sdes = bytearray(build_sdes(9, "ab") + b"\x00\x00\x00\x04")
        sdes[0] |= 0x20
        sdes[3] += 1
        self.assertEqual(parse_rtcp(build_rr(5) + bytes(sdes))[1].cname(9), "ab")

    def test_truncated(self) -> None:
        self.assertInvalid(b"\x80\xc9\x00", errors.TRUNCATED)
        self.assertInvalid(b"\x82\xc9\x00\x07" + RR_BYTES[4:], errors.TRUNCATED)

    def test_first_packet_must_be_a_report(self) -> None:
        self.assertInvalid(SDES_AB + build_rr(5), errors.NOT_COMPOUND)
        self.assertInvalid(build_bye([1]), errors.NOT_COMPOUND)

    def test_version_of_every_packet(self) -> None:
        self.assertInvalid(b"\x40" + RR_BYTES[1:], errors.BAD_VERSION)
        self.assertInvalid(build_rr(5) + b"\x41" + SDES_AB[1:], errors.BAD_VERSION)

    def test_lengths_must_add_up(self) -> None:
        self.assertInvalid(build_rr(5) + b"\x80\xca", errors.BAD_LENGTH)
        self.assertInvalid(build_rr(5) + b"\x80\xca\x00\x05" + bytes(4), errors.BAD_LENGTH)
        self.assertInvalid(RR_BYTES[:-4], errors.BAD_LENGTH)

    def test_padding_rules(self) -> None:
        padded_first = bytearray(build_rr(5) + b"\x00\x00\x00\x04")
        padded_first[0] |= 0x20
        padded_first[3] += 1
        self.assertInvalid(bytes(padded_first), errors.BAD_PADDING)
        self.assertInvalid(bytes(padded_first) + SDES_AB, errors.BAD_PADDING)
        for count in (0, 17):
            sdes = bytearray(SDES_AB + bytes(3) + bytes((count,)))
            sdes[0] |= 0x20
            sdes[3] += 1
            self.assertInvalid(build_rr(5) + bytes(sdes), errors.BAD_PADDING)
        middle = bytearray(SDES_AB)
        middle[0] |= 0x20
        self.assertInvalid(build_rr(5) + bytes(middle) + SDES_AB, errors.BAD_PADDING)

    def test_sdes_errors(self) -> None:
        no_end = b"\x81\xca\x00\x02\x00\x00\x00\x09\x01\x02ab"
        self.assertInvalid(build_rr(5) + no_end, errors.MALFORMED)
        long_item = b"\x81\xca\x00\x02\x00\x00\x00\x09\x01\x09ab"
        self.assertInvalid(build_rr(5) + long_item, errors.TRUNCATED)
        missing_chunk = b"\x82" + SDES_AB[1:]
        self.assertInvalid(build_rr(5) + missing_chunk, errors.TRUNCATED)
        no_padding_room = b"\x81\xca\x00\x02\x00\x00\x00\x09\x01\x01a\x00"
        self.assertEqual(parse_rtcp(build_rr(5) + no_padding_room)[1].cname(9), "a")

    def test_bye_errors(self) -> None:
        self.assertInvalid(build_rr(5) + b"\x82\xcb\x00\x01\x00\x00\x00\x01", errors.TRUNCATED)
        long_reason = b"\x81\xcb\x00\x02\x00\x00\x00\x01\x09abc"
        self.assertInvalid(build_rr(5) + long_reason, errors.TRUNCATED)
        self.assertEqual(parse_rtcp(build_rr(5) + build_bye([3]))[1], Bye((3,), None))


class TimeTests(SynchronousTestCase):
    def test_ntp_conversion(self) -> None:
        self.assertEqual(ntp_from_unix(0.0), 2208988800 << 32)
        self.assertEqual(ntp_from_unix(0.5), (2208988800 << 32) | 0x80000000)
        back = unix_from_ntp(ntp_from_unix(1767225600.25))
        self.assertAlmostEqual(back, 1767225600.25, places=6)
        # Era 1 starts on 2036-02-07: the seconds field wraps to 0.
        self.assertEqual(ntp_from_unix(2**32 - 2208988800 + 1.0) >> 32, 1)

    def test_middle_bits(self) -> None:
        self.assertEqual(ntp_middle(0x0123456789ABCDEF), 0x456789AB)

    def test_rtt_rfc_example(self) -> None:
        # RFC 3550 §6.4.1 Figure 2: A = 0xb710:8000 (46864.500 s),
        # LSR = 0xb705:2000 (46853.125 s), DLSR = 0x0005:4000 (5.250 s) -> 6.125 s.
        arrival = 0xB7108000 << 16
        self.assertEqual(rtt_from_report(arrival, 0xB7052000, 0x00054000), 6.125)

    def test_rtt_unknown(self) -> None:
        self.assertIsNone(rtt_from_report(0xB7108000 << 16, 0, 0))
        self.assertIsNone(rtt_from_report(0xB7108000 << 16, 0xB7108000, 0x00010000))


def rtp(seq: int, ssrc: int) -> RTPPacket:
    return RTPPacket(False, 0, seq, seq * 160, ssrc, b"")


class Peer:
    """One side of a call: its statistics and RTCP session."""

    def __init__(self, ssrc: int, **kwargs) -> None:
        self.reception = ReceptionStats(8000)
        self.sender = SenderStats(8000)
        kwargs.setdefault("random", lambda: 0.5)
        self.session = RTCPSession(
            ssrc, f"peer{ssrc}@example", self.reception, self.sender, **kwargs
        )

    def send_to(self, other: "Peer", seqs, lose=()) -> None:
        for seq in seqs:
            self.sender.sent(seq * 160, 160, seq * 0.02)
            if seq not in lose:
                other.reception.update(rtp(seq, self.session.ssrc), seq * 0.02 + 0.05)


class SessionTests(SynchronousTestCase):
    def test_interval(self) -> None:
        peer = Peer(1)
        # Before the first report the 5 s minimum is halved (§6.3.1, A.7).
        self.assertAlmostEqual(peer.session.interval(), 2.5 / (math.e - 1.5))
        peer.session.report(0.0)
        self.assertAlmostEqual(peer.session.interval(), 5.0 / (math.e - 1.5))

    def test_interval_randomised(self) -> None:
        values = iter([0.0, 0.999])
        peer = Peer(1, random=lambda: next(values))
        peer.session.report(0.0)
        self.assertAlmostEqual(peer.session.interval(), 5.0 * 0.5 / (math.e - 1.5))
        self.assertAlmostEqual(peer.session.interval(), 5.0 * 1.499 / (math.e - 1.5))

    def test_interval_bandwidth_bound(self) -> None:
        # 2 kbit/s: RTCP gets 5% = 12.5 octets/s.  A lone receiver gets 75% of
        # that and counts itself only: 128 octets / 9.375 octets/s = 13.65 s.
        peer = Peer(1, bandwidth=2000.0)
        self.assertAlmostEqual(peer.session.interval(), 128 / 9.375 / (math.e - 1.5))
        # Both members sending: no split, n = 2, 2 * 128 / 12.5 = 20.48 s.
        other = Peer(2)
        peer.send_to(other, range(3))
        other.send_to(peer, range(3))
        self.assertAlmostEqual(peer.session.interval(), 2 * 128 / 12.5 / (math.e - 1.5))

    def test_receiver_report_with_block(self) -> None:
        a, b = Peer(1), Peer(2)
        b.send_to(a, range(0, 22), lose=(5, 6, 7, 8, 9))
        packets = parse_rtcp(a.session.report(1.0))
        self.assertEqual(
            packets,
            [
                # Validated from sequence 1 (A.1 probation): 21 expected, 5 lost.
                ReceiverReport(1, (ReportBlock(2, (5 << 8) // 21, 5, 21, 0, 0, 0),)),
                SourceDescription(((1, ((1, b"peer1@example"),)),)),
            ],
        )
        # Nothing heard since: no block.
        self.assertEqual(parse_rtcp(a.session.report(6.0))[0], ReceiverReport(1, ()))

    def test_sender_report_while_sending(self) -> None:
        a, b = Peer(1), Peer(2)
        a.send_to(b, range(0, 50))
        report = parse_rtcp(a.session.report(1.5))[0]
        self.assertEqual(report, SenderReport(1, ntp_from_unix(1.5), 12000, 50, 8000, ()))
        # §6.4: still a sender in the next report, a receiver in the one after.
        self.assertIsInstance(parse_rtcp(a.session.report(6.5))[0], SenderReport)
        self.assertIsInstance(parse_rtcp(a.session.report(11.5))[0], ReceiverReport)

    def test_lsr_and_dlsr(self) -> None:
        a, b = Peer(1), Peer(2)
        b.send_to(a, range(0, 10))
        a.session.receive(b.session.report(100.0), 100.05)
        block = parse_rtcp(a.session.report(101.55))[0].reports[0]
        self.assertEqual(block.lsr, ntp_middle(ntp_from_unix(100.0)))
        self.assertEqual(block.dlsr, int(1.5 * 65536))

    def test_round_trip_time_and_remote_figures(self) -> None:
        a, b = Peer(1), Peer(2)
        a.send_to(b, range(0, 42), lose=(10, 11))
        b.send_to(a, range(0, 42))
        self.assertIsNone(a.session.remote.updated)
        b.session.receive(a.session.report(10.0), 10.05)  # 50 ms one way
        a.session.receive(b.session.report(11.0), 11.05)
        remote = a.session.remote
        # NTP middle 32 bits count 1/65536 s.
        self.assertLess(abs(remote.rtt - 0.1), 2 / 65536)
        self.assertEqual((remote.lost, remote.fraction_lost), (2, ((2 << 8) // 41) / 256))
        self.assertEqual((remote.jitter, remote.jitter_ms, remote.updated), (0, 0.0, 11.05))

    def test_report_blocks_about_others_ignored(self) -> None:
        a = Peer(1)
        data = build_rr(2, [ReportBlock(3, 128, 10, 5, 80, 0, 0)])
        self.assertEqual(
            a.session.receive(data, 1.0),
            [ReceiverReport(2, (ReportBlock(3, 128, 10, 5, 80, 0, 0),))],
        )
        self.assertIsNone(a.session.remote.updated)

    def test_remote_jitter_in_our_clock(self) -> None:
        a = Peer(1)
        a.session.receive(build_rr(2, [ReportBlock(1, 0, 0, 5, 80, 0, 0)]), 1.0)
        self.assertEqual((a.session.remote.jitter, a.session.remote.jitter_ms), (80, 10.0))
        self.assertIsNone(a.session.remote.rtt)

    def test_bye(self) -> None:
        a, b = Peer(1), Peer(2)
        data = a.session.bye(3.0, "call ended")
        packets = parse_rtcp(data)
        self.assertIsInstance(packets[0], ReceiverReport)
        self.assertEqual(packets[-1], Bye((1,), "call ended"))
        b.session.receive(data, 3.01)
        self.assertEqual((b.session.remote.bye, b.session.remote.bye_reason), (True, "call ended"))

    def test_invalid_datagram(self) -> None:
        a = Peer(1)
        err = self.assertRaises(RTCPParseError, a.session.receive, SDES_AB, 1.0)
        self.assertEqual(err.reason, errors.NOT_COMPOUND)
