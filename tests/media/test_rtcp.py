"""RTCP of a MediaSession: reports every few seconds to rtp+1, BYE on close, peer reports read."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    build_rr,
    build_sdes,
    ntp_middle,
    parse_rtcp,
    unix_from_ntp,
)
from tests.media._helpers import PEER_RTCP, PEER_SSRC, Harness, rtp
from tests.support.audio import tone


class ReportTests(SynchronousTestCase):
    def reports(self, h: Harness) -> list[tuple[float, list, tuple]]:
        return [(h.reactor.seconds(), parse_rtcp(d), a) for d, a in h.rtcp_port.take_written()]

    def test_reports_about_every_five_seconds_to_rtp_plus_one(self) -> None:
        """
        With the default random source, 60 s carry 10-30 reports spaced
        [0.5, 1.5] x 5 s / (e - 3/2), 2.05-6.16 s (§6.3.1, A.7).
        """
        h = Harness(rtcp_random=None)
        times = []
        for _ in range(6000):
            h.reactor.advance(0.01)
            for _, packets, addr in self.reports(h):
                self.assertEqual(addr, PEER_RTCP)
                self.assertIsInstance(packets[0], (SenderReport, ReceiverReport))
                self.assertIsInstance(packets[1], SourceDescription)
                times.append(h.reactor.seconds())
        self.assertTrue(10 <= len(times) <= 30, times)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertTrue(all(2.0 <= g <= 6.2 for g in gaps), gaps)
        self.assertEqual(h.stats()["rtcp_sent"], len(times))

    def test_sr_while_sending_rr_otherwise(self) -> None:
        h = Harness()
        h.advance(2.1)
        ((_, packets, _),) = self.reports(h)
        self.assertIsInstance(packets[0], ReceiverReport)
        self.assertEqual(packets[0].ssrc, h.session.ssrc)
        h.session.send_audio(tone(300, 3.0))
        h.advance(4.2)
        ((_, packets, _),) = self.reports(h)
        self.assertIsInstance(packets[0], SenderReport)
        self.assertEqual(packets[0].packet_count, h.stats()["packets_out"])

    def test_report_block_about_the_peer(self) -> None:
        h = Harness()
        for seq in range(0, 50):
            if seq != 10:  # one lost
                h.deliver(rtp(seq, 160 * seq, b"\xff" * 160))
            h.reactor.advance(0.02)
        h.advance(2.0)
        ((_, packets, _),) = self.reports(h)
        (block,) = packets[0].reports
        self.assertEqual((block.ssrc, block.lost), (PEER_SSRC, 1))

    def test_peer_receiver_report_parsed_into_stats(self) -> None:
        h = Harness()
        h.session.send_audio(tone(300, 3.0))
        h.advance(2.1)
        ((_, packets, _),) = self.reports(h)
        our_sr = packets[0]
        self.assertIsInstance(our_sr, SenderReport)
        # The peer answers 0.5 s after our SR left, having held it 0.2 s.
        h.reactor.advance(unix_from_ntp(our_sr.ntp) + 0.5 - h.reactor.seconds())
        block = ReportBlock(
            h.session.ssrc, 64, 7, 1000, 80, ntp_middle(our_sr.ntp), int(0.2 * 65536)
        )
        h.rtcp_port.deliver(
            build_rr(PEER_SSRC, [block]) + build_sdes(PEER_SSRC, "peer"), PEER_RTCP
        )
        stats = h.stats()
        self.assertLess(abs(stats["rtt_ms"] - 300.0), 1.0)
        self.assertEqual((stats["remote_fraction_lost"], stats["remote_lost"]), (0.25, 7))
        self.assertEqual(stats["remote_jitter_ms"], 10.0)
        self.assertEqual(stats["rtcp_received"], 1)
        self.assertLess(stats["mos"], 4.41)

    def test_invalid_rtcp_counted(self) -> None:
        h = Harness()
        for data in (b"", b"\x80\xca\x00\x01\x00\x00\x00\x00", b"\x80\xc9\x00\x09"):
            h.rtcp_port.deliver(data, PEER_RTCP)
        self.assertEqual(h.stats()["rtcp_invalid"], 3)

    def test_rtcp_continues_when_not_sending(self) -> None:
        """RFC 3264 §5.1: RTCP is still sent for a sendonly/recvonly/inactive stream."""
        h = Harness(send=False, recv=False)
        h.advance(2.1)
        self.assertEqual(len(self.reports(h)), 1)

    def test_no_rtcp_to_a_hold_address(self) -> None:
        h = Harness(remote_rtp=("0.0.0.0", 4000))
        h.advance(10.0)
        self.assertEqual(self.reports(h), [])


class ByeTests(SynchronousTestCase):
    def test_bye_is_the_last_packet(self) -> None:
        h = Harness()
        port = h.rtcp_port
        h.session.close("done")
        ((data, addr),) = port.written
        packets = parse_rtcp(data)
        self.assertEqual(addr, PEER_RTCP)
        self.assertIsInstance(packets[-1], Bye)
        self.assertEqual(packets[-1].sources, (h.session.ssrc,))
        self.assertEqual(packets[-1].reason, "done")
