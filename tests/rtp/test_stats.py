"""Tests for L{roomkit_sip.rtp.stats}."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.rtp.packet import RTPPacket
from roomkit_sip.rtp.stats import (
    BAD_SEQUENCE,
    IN_SEQUENCE,
    NEW_SOURCE,
    RESTARTED,
    Counters,
    ReceptionStats,
    SenderStats,
    mos_from_r,
    r_factor,
)


def packet(seq: int, ts: int = 0, ssrc: int = 1) -> RTPPacket:
    return RTPPacket(False, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, b"")


def feed(stats: ReceptionStats, seqs, ssrc: int = 1) -> list[int]:
    """Feed packets 20 ms apart with timestamps following the sequence (no jitter)."""
    return [stats.update(packet(s, s * 160, ssrc), s * 0.02) for s in seqs]


class SequenceTests(SynchronousTestCase):
    """RFC 3550 A.1."""

    def test_probation(self) -> None:
        stats = ReceptionStats(8000)
        self.assertEqual(stats.update(packet(10), 0.0), NEW_SOURCE)
        self.assertEqual((stats.ssrc, stats.expected, stats.lost), (1, 0, 0))
        self.assertEqual(stats.update(packet(11), 0.02), IN_SEQUENCE)
        # Validated on the second sequential packet, which becomes the base.
        self.assertEqual((stats.expected, stats.extended_max), (1, 11))
        feed(stats, range(12, 20))
        self.assertEqual((stats.expected, stats.lost), (9, 0))

    def test_probation_restarts_on_a_gap(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, [10, 12])
        self.assertEqual(stats.expected, 0)
        feed(stats, [13])
        self.assertEqual((stats.expected, stats.extended_max), (1, 13))

    def test_wrap_counts_cycles(self) -> None:
        stats = ReceptionStats(8000)
        verdicts = feed(stats, range(65530, 65542))
        self.assertEqual(verdicts, [NEW_SOURCE] + [IN_SEQUENCE] * 11)
        self.assertEqual(stats.extended_max, 65536 + 5)
        self.assertEqual((stats.expected, stats.lost), (11, 0))
        self.assertEqual(stats.report_fields()[2], 0x10005)

    def test_large_jump_needs_two_sequential_packets(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, range(100, 110))
        self.assertEqual(stats.update(packet(10000), 1.0), BAD_SEQUENCE)
        self.assertEqual(stats.update(packet(10001), 1.02), RESTARTED)
        self.assertEqual((stats.expected, stats.extended_max), (1, 10001))

    def test_unconfirmed_jump_is_dropped_and_stream_continues(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, range(100, 110))
        self.assertEqual(stats.update(packet(40000), 1.0), BAD_SEQUENCE)
        self.assertEqual(feed(stats, [110]), [IN_SEQUENCE])
        self.assertEqual((stats.expected, stats.lost), (10, 0))

    def test_misorder_window(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, range(0, 301))
        # Within MAX_MISORDER (100) behind: a reordered packet, counted.
        self.assertEqual(stats.update(packet(250), 7.0), IN_SEQUENCE)
        self.assertEqual(stats.extended_max, 300)
        # Further behind: bad, like a jump.
        self.assertEqual(stats.update(packet(150), 7.1), BAD_SEQUENCE)

    def test_gap_below_max_dropout_is_loss(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, [0, 1, 2])
        self.assertEqual(feed(stats, [2 + 2999]), [IN_SEQUENCE])
        self.assertEqual(stats.lost, 2998)

    def test_counters_received_counts_everything(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, [1, 2, 3, 40000])
        self.assertEqual(stats.counters.received, 4)


class LossTests(SynchronousTestCase):
    """RFC 3550 A.3."""

    def test_fraction_and_cumulative(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, [s for s in range(10, 32) if s not in (15, 20, 21)])
        # Base 11, highest 31: 21 expected, 18 received.
        self.assertEqual(stats.report_fields(), ((3 << 8) // 21, 3, 31, 0))
        feed(stats, range(32, 52))
        self.assertEqual(stats.report_fields(), (0, 3, 51, 0))

    def test_known_fraction(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, [0, 1])
        stats.report_fields()
        # 20 expected in the interval, 5 of them lost: 5/20 = 64/256.
        feed(stats, [s for s in range(2, 22) if s % 4 != 0])
        self.assertEqual(stats.report_fields()[:2], (64, 5))

    def test_duplicates_make_loss_negative(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, range(0, 10))
        stats.report_fields()
        feed(stats, [10, 10, 11, 11])
        fraction, lost, _, _ = stats.report_fields()
        self.assertEqual((fraction, lost), (0, -2))
        self.assertEqual(stats.loss_rate, 0.0)

    def test_cumulative_loss_clamped_to_24_bits(self) -> None:
        stats = ReceptionStats(8000)
        seq = 0
        feed(stats, [0, 1])
        seq = 1
        for _ in range(2800):
            seq += 2999
            stats.update(packet(seq), 0.0, timing=False)
        self.assertEqual(stats.lost, 2800 * 2998)
        self.assertEqual(stats.report_fields()[1], 0x7FFFFF)

    def test_loss_rate(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, [s for s in range(0, 42) if s not in (10, 20)])
        self.assertAlmostEqual(stats.loss_rate, 2 / 41)


class SourceChangeTests(SynchronousTestCase):
    def test_new_ssrc_is_a_new_source(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, [s for s in range(0, 10) if s != 5], ssrc=1)
        self.assertEqual(stats.lost, 1)
        self.assertEqual(stats.update(packet(500, 0, ssrc=2), 1.0), NEW_SOURCE)
        self.assertEqual((stats.ssrc, stats.counters.ssrc_changes), (2, 1))
        self.assertEqual((stats.expected, stats.lost), (0, 0))
        feed(stats, range(501, 511), ssrc=2)
        snapshot = stats.snapshot()
        self.assertEqual((snapshot["lost"], snapshot["expected"]), (1, 9 + 10))

    def test_straggler_from_previous_source_is_late(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, range(0, 10), ssrc=1)
        feed(stats, range(500, 503), ssrc=2)
        self.assertEqual(stats.update(packet(7, ssrc=1), 1.0), BAD_SEQUENCE)
        self.assertEqual((stats.ssrc, stats.counters.late), (2, 1))
        # A newer sequence number from it is a genuine switch back.
        self.assertEqual(stats.update(packet(10, ssrc=1), 1.1), NEW_SOURCE)
        self.assertEqual((stats.ssrc, stats.counters.ssrc_changes), (1, 2))


class JitterTests(SynchronousTestCase):
    """RFC 3550 A.8."""

    SERIES = [(0, 0.0), (160, 0.020), (320, 0.045), (480, 0.060)]
    # Transit in 8 kHz units: 0, 0, 40, 0, so |D| = 0, 40, 40 and
    # J = 0 + (0 - 0)/16 = 0, 0 + (40 - 0)/16 = 2.5, 2.5 + (40 - 2.5)/16 = 4.84375.
    EXPECTED = [0.0, 0.0, 2.5, 4.84375]

    def series(self, base: int) -> list[float]:
        stats = ReceptionStats(8000)
        result = []
        for i, (ts, arrival) in enumerate(self.SERIES):
            stats.update(packet(i, base + ts), arrival)
            result.append(stats.jitter)
        return result

    def test_hand_computed_series(self) -> None:
        for got, expected in zip(self.series(0), self.EXPECTED, strict=True):
            self.assertAlmostEqual(got, expected, places=9)

    def test_timestamp_wrap(self) -> None:
        for got, expected in zip(self.series(2**32 - 320), self.EXPECTED, strict=True):
            self.assertAlmostEqual(got, expected, places=9)

    def test_units(self) -> None:
        stats = ReceptionStats(8000)
        for i, (ts, arrival) in enumerate(self.SERIES):
            stats.update(packet(i, ts), arrival)
        self.assertAlmostEqual(stats.jitter_ms, 4.84375 / 8)
        self.assertEqual(stats.report_fields()[3], 4)

    def test_untimed_packets_do_not_count(self) -> None:
        stats = ReceptionStats(8000)
        for i, (ts, arrival) in enumerate(self.SERIES[:3]):
            stats.update(packet(2 * i, ts), arrival)
            # An RFC 4733 packet keeps its event's timestamp while time runs.
            stats.update(packet(2 * i + 1, 0), arrival + 0.01, timing=False)
        self.assertAlmostEqual(stats.jitter, 2.5)

    def test_talk_spurt_gap_is_not_jitter(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, range(0, 5))
        # Silence suppressed for 2 s: timestamps and arrival jump together.
        stats.update(packet(5, 4 * 160 + 16000), 4 * 0.02 + 2.0)
        self.assertAlmostEqual(stats.jitter, 0.0)

    def test_restart_does_not_spike(self) -> None:
        stats = ReceptionStats(8000)
        feed(stats, range(0, 5))
        stats.update(packet(30000, 12345678), 0.1)
        self.assertEqual(stats.update(packet(30001, 12345678 + 160), 0.12), RESTARTED)
        self.assertAlmostEqual(stats.jitter, 0.0)


class SenderStatsTests(SynchronousTestCase):
    def test_counts_payload_octets(self) -> None:
        sender = SenderStats(8000)
        self.assertIsNone(sender.timestamp_at(5.0))
        sender.sent(1000, 160, 10.0)
        sender.sent(1160, 160, 10.02)
        self.assertEqual((sender.packets, sender.octets), (2, 320))

    def test_timestamp_extrapolated(self) -> None:
        sender = SenderStats(8000)
        sender.sent(1000, 160, 10.0)
        self.assertEqual(sender.timestamp_at(10.5), 5000)
        sender.sent(2**32 - 100, 160, 20.0)
        self.assertEqual(sender.timestamp_at(20.1), 700)

    def test_untimed_packets_keep_the_reference(self) -> None:
        sender = SenderStats(8000)
        sender.sent(1000, 160, 10.0)
        sender.sent(1, 4, 10.3, timing=False)
        self.assertEqual(sender.timestamp_at(10.5), 5000)
        self.assertEqual((sender.packets, sender.octets), (2, 164))


class QualityTests(SynchronousTestCase):
    def test_defaults_give_93_2(self) -> None:
        self.assertAlmostEqual(r_factor(0.0, 0.0), 93.2)
        self.assertAlmostEqual(mos_from_r(93.2), 4.409285824)

    def test_loss_impairment(self) -> None:
        # Ie,eff = 95 * 1 / (1 + 25.1) for 1% with G.711 PLC (Bpl 25.1).
        self.assertAlmostEqual(r_factor(0.01, 0.0), 93.2 - 95 / 26.1)
        self.assertAlmostEqual(r_factor(0.01, 0.0, bpl=4.3), 93.2 - 95 / 5.3)

    def test_delay_impairment(self) -> None:
        # Ta = 360/2 + 20 = 200 ms: X = 1, Idd = 25 (2^(1/6) - 3 (1 + 1/729)^(1/6) + 2) = 3.0444.
        self.assertAlmostEqual(r_factor(0.0, 0.0, 360.0), 90.15558577648, places=9)
        # Jitter counts twice: 2 * 40 + 200 / 2 + 20 = 200 ms again.
        self.assertAlmostEqual(r_factor(0.0, 40.0, 200.0), 90.15558577648, places=9)
        self.assertAlmostEqual(r_factor(0.0, 0.0, 760.0), 69.12991078023, places=9)
        # Up to 100 ms one way there is no delay impairment.
        self.assertAlmostEqual(r_factor(0.0, 0.0, 160.0), 93.2)

    def test_mos_bounds(self) -> None:
        self.assertEqual(mos_from_r(-5.0), 1.0)
        self.assertEqual(mos_from_r(3.0), 1.0)
        self.assertEqual(mos_from_r(120.0), 4.5)
        self.assertAlmostEqual(mos_from_r(50.0), 2.575)

    def test_snapshot(self) -> None:
        counters = Counters()
        stats = ReceptionStats(8000, counters)
        self.assertIs(stats.counters, counters)
        feed(stats, [s for s in range(0, 101) if s != 50])
        snapshot = stats.snapshot(rtt=0.36)
        self.assertEqual(snapshot["received"], 100)
        self.assertEqual(snapshot["lost"], 1)
        self.assertEqual(snapshot["rtt_ms"], 360.0)
        self.assertAlmostEqual(snapshot["r_factor"], r_factor(0.01, 0.0, 360.0))
        self.assertAlmostEqual(snapshot["mos"], mos_from_r(snapshot["r_factor"]))
        self.assertIsNone(stats.snapshot()["rtt_ms"])
