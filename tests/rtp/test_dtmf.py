"""Tests for L{roomkit_sip.rtp.dtmf} (RFC 4733)."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.rtp import errors
from roomkit_sip.rtp.dtmf import (
    DTMFDigit,
    DTMFReceiver,
    TelephoneEvent,
    build_event,
    digit_code,
    dtmf_packets,
    event_plan,
    parse_event,
)
from roomkit_sip.rtp.packet import RTPPacket, parse_rtp


def event(ts: int, duration: int, end: bool = False, code: int = 1, marker: bool = False):
    return RTPPacket(marker, 101, 0, ts & 0xFFFFFFFF, 7, build_event(code, end, 10, duration))


def full_event(ts: int, code: int = 1, duration: int = 1280) -> list[RTPPacket]:
    """Start with marker, updates every 400 ticks, three end packets."""
    packets = [event(ts, 0, code=code, marker=True)]
    packets += [event(ts, d, code=code) for d in range(400, duration, 400)]
    packets += [event(ts, duration, end=True, code=code)] * 3
    return packets


def receive_all(receiver: DTMFReceiver, packets, start: float = 0.0) -> list[list[DTMFDigit]]:
    return [list(receiver.receive(p, start + i * 0.05)) for i, p in enumerate(packets)]


class PayloadTests(SynchronousTestCase):
    def test_known_bytes(self) -> None:
        # Digit 1, E bit, volume 10 (-10 dBm0), 1280 units (160 ms at 8 kHz).
        self.assertEqual(build_event(1, True, 10, 1280), b"\x01\x8a\x05\x00")
        self.assertEqual(parse_event(b"\x01\x8a\x05\x00"), TelephoneEvent(1, True, 10, 1280))

    def test_reserved_bit_ignored(self) -> None:
        self.assertEqual(parse_event(b"\x0b\x4a\x00\xa0"), TelephoneEvent(11, False, 10, 160))

    def test_first_of_several_events(self) -> None:
        payload = build_event(3, True, 10, 800) + build_event(4, False, 10, 160)
        self.assertEqual(parse_event(payload), TelephoneEvent(3, True, 10, 800))

    def test_truncated(self) -> None:
        err = self.assertRaises(errors.EventParseError, parse_event, b"\x01\x8a\x05")
        self.assertEqual(err.reason, errors.TRUNCATED)

    def test_out_of_range(self) -> None:
        for args in ((256, False, 0, 0), (1, False, 64, 0), (1, False, 0, 65536)):
            self.assertRaises(errors.EventParseError, build_event, *args)

    def test_digit_codes(self) -> None:
        self.assertEqual([digit_code(d) for d in "0123456789*#ABCD"], list(range(16)))
        self.assertEqual([digit_code(d) for d in "abcd"], [12, 13, 14, 15])
        self.assertEqual(digit_code("!"), 16)
        for bad in ("E", "", "11", " "):
            self.assertRaises(ValueError, digit_code, bad)


class ReceiverTests(SynchronousTestCase):
    def test_one_digit_despite_three_end_packets(self) -> None:
        receiver = DTMFReceiver(8000)
        results = receive_all(receiver, full_event(1000))
        self.assertEqual(results[:4], [[], [], [], []])
        self.assertEqual(results[4], [DTMFDigit("1", 160.0, 1000, 1)])
        self.assertEqual(results[5:], [[], []])
        self.assertIsNone(receiver.deadline())

    def test_start_packets_lost(self) -> None:
        receiver = DTMFReceiver(8000)
        results = receive_all(receiver, full_event(1000)[4:])
        self.assertEqual(results, [[DTMFDigit("1", 160.0, 1000, 1)], [], []])

    def test_first_packet_seen_is_an_update(self) -> None:
        receiver = DTMFReceiver(8000)
        results = receive_all(receiver, full_event(1000)[2:])
        self.assertEqual(sum(results, []), [DTMFDigit("1", 160.0, 1000, 1)])

    def test_all_end_packets_lost_then_next_event(self) -> None:
        receiver = DTMFReceiver(8000)
        receive_all(receiver, full_event(1000)[:4])
        results = receive_all(receiver, full_event(5000, code=11), start=1.0)
        self.assertEqual(results[0], [DTMFDigit("1", 150.0, 1000, 1)])
        self.assertEqual(sum(results[1:], []), [DTMFDigit("#", 160.0, 5000, 11)])

    def test_all_end_packets_lost_then_audio(self) -> None:
        receiver = DTMFReceiver(8000, audio_guard=0.1)
        receive_all(receiver, full_event(1000)[:4])
        # Known end: 1000 + 1200; the guard adds 800 units.
        self.assertEqual(receiver.audio(2000, 1.0), ())
        self.assertEqual(receiver.audio(3000, 1.0), ())
        self.assertEqual(receiver.audio(3001, 1.0), [DTMFDigit("1", 150.0, 1000, 1)])
        self.assertEqual(receiver.audio(3161, 1.0), ())
        self.assertEqual(receive_all(receiver, full_event(1000)[4:], start=1.1), [[], [], []])

    def test_audio_before_the_event(self) -> None:
        receiver = DTMFReceiver(8000)
        self.assertEqual(receiver.audio(500, 0.0), ())
        receive_all(receiver, full_event(1000)[:2])
        self.assertEqual(receiver.audio(840, 0.1), ())

    def test_all_end_packets_lost_then_timeout(self) -> None:
        receiver = DTMFReceiver(8000, end_timeout=0.5)
        self.assertIsNone(receiver.deadline())
        for packet in full_event(1000)[:4]:
            receiver.receive(packet, 1.0)
        self.assertEqual(receiver.deadline(), 1.5)
        self.assertEqual(receiver.poll(1.49), ())
        self.assertEqual(receiver.poll(1.5), [DTMFDigit("1", 150.0, 1000, 1)])
        self.assertIsNone(receiver.deadline())
        self.assertEqual(receiver.poll(2.0), ())

    def test_back_to_back_identical_digits(self) -> None:
        receiver = DTMFReceiver(8000)
        results = receive_all(receiver, full_event(1000) + full_event(3000))
        self.assertEqual(
            sum(results, []), [DTMFDigit("1", 160.0, 1000, 1), DTMFDigit("1", 160.0, 3000, 1)]
        )

    def test_late_copies_of_a_previous_event_ignored(self) -> None:
        receiver = DTMFReceiver(8000)
        first, second = full_event(1000), full_event(3000, code=2)
        packets = first[:5] + second[:1] + first[5:] + second[1:]
        self.assertEqual(
            sum(receive_all(receiver, packets), []),
            [DTMFDigit("1", 160.0, 1000, 1), DTMFDigit("2", 160.0, 3000, 2)],
        )

    def test_reordered_update_of_pending_event_after_next_started(self) -> None:
        receiver = DTMFReceiver(8000)
        first, second = full_event(1000), full_event(3000, code=2)
        packets = first[:2] + second[:1] + first[2:3] + second[1:]
        self.assertEqual(
            sum(receive_all(receiver, packets), []),
            [DTMFDigit("1", 50.0, 1000, 1), DTMFDigit("2", 160.0, 3000, 2)],
        )

    def test_timestamp_wrap(self) -> None:
        receiver = DTMFReceiver(8000)
        results = receive_all(receiver, full_event(2**32 - 100)[:3] + full_event(300))
        self.assertEqual(
            sum(results, []),
            [DTMFDigit("1", 100.0, 2**32 - 100, 1), DTMFDigit("1", 160.0, 300, 1)],
        )

    def test_audio_across_timestamp_wrap(self) -> None:
        receiver = DTMFReceiver(8000, audio_guard=0.0)
        receive_all(receiver, full_event(2**32 - 100)[:2])
        self.assertEqual(receiver.audio(299, 1.0), ())
        self.assertEqual(len(receiver.audio(301, 1.0)), 1)

    def test_reordered_updates_keep_longest_duration(self) -> None:
        receiver = DTMFReceiver(8000)
        receiver.receive(event(1000, 800), 0.0)
        receiver.receive(event(1000, 400), 0.01)
        self.assertEqual(receiver.poll(1.0), [DTMFDigit("1", 100.0, 1000, 1)])

    def test_flash_and_clock_rate(self) -> None:
        receiver = DTMFReceiver(16000)
        digits = receiver.receive(event(0, 3200, end=True, code=16), 0.0)
        self.assertEqual(digits, [DTMFDigit("!", 200.0, 0, 16)])

    def test_invalid_and_other_events(self) -> None:
        receiver = DTMFReceiver(8000)
        short = RTPPacket(False, 101, 0, 0, 7, b"\x01\x80")
        self.assertEqual(receiver.receive(short, 0.0), ())
        self.assertEqual(receiver.receive(event(0, 800, end=True, code=32), 0.0), ())
        self.assertEqual((receiver.invalid, receiver.ignored), (1, 1))
        self.assertIsNone(receiver.deadline())

    def test_flush(self) -> None:
        receiver = DTMFReceiver(8000)
        self.assertEqual(receiver.flush(), ())
        receive_all(receiver, full_event(1000)[:3])
        self.assertEqual(receiver.flush(), [DTMFDigit("1", 100.0, 1000, 1)])
        self.assertEqual(receiver.flush(), ())
        self.assertIsNone(receiver.deadline())


class SenderTests(SynchronousTestCase):
    def decode(self, burst) -> list[tuple[float, int, int, bool, TelephoneEvent]]:
        result = []
        for offset, data in burst.packets:
            packet = parse_rtp(data)
            self.assertEqual((packet.payload_type, packet.ssrc), (101, 0x1234))
            fields = (offset, packet.sequence, packet.timestamp, packet.marker)
            result.append((*fields, parse_event(packet.payload)))
        return result

    def test_layout(self) -> None:
        burst = dtmf_packets(
            "5",
            160,
            payload_type=101,
            ssrc=0x1234,
            timestamp=8000,
            sequence=65534,
            clock_rate=8000,
        )
        self.assertEqual(
            self.decode(burst),
            [
                (0.0, 65534, 8000, True, TelephoneEvent(5, False, 10, 0)),
                (0.05, 65535, 8000, False, TelephoneEvent(5, False, 10, 400)),
                (0.1, 0, 8000, False, TelephoneEvent(5, False, 10, 800)),
                (0.15, 1, 8000, False, TelephoneEvent(5, False, 10, 1200)),
                (0.16, 2, 8000, False, TelephoneEvent(5, True, 10, 1280)),
                (0.21, 3, 8000, False, TelephoneEvent(5, True, 10, 1280)),
                (0.26, 4, 8000, False, TelephoneEvent(5, True, 10, 1280)),
            ],
        )
        self.assertEqual((burst.next_sequence, burst.end_offset, burst.duration), (5, 0.26, 1280))

    def test_short_event_and_options(self) -> None:
        burst = dtmf_packets(
            "a",
            30,
            payload_type=101,
            ssrc=0x1234,
            timestamp=0,
            sequence=0,
            clock_rate=16000,
            volume=20,
            interval_ms=20,
        )
        decoded = self.decode(burst)
        self.assertEqual([d[0] for d in decoded], [0.0, 0.02, 0.03, 0.05, 0.07])
        self.assertEqual(
            [d[4] for d in decoded],
            [TelephoneEvent(12, False, 20, 0), TelephoneEvent(12, False, 20, 320)]
            + [TelephoneEvent(12, True, 20, 480)] * 3,
        )

    def test_long_event_is_segmented(self) -> None:
        # 10 s at 8 kHz = 80000 units: a full 0xFFFF segment, then 14465.
        start = 2**32 - 10
        burst = dtmf_packets(
            "#",
            10000,
            payload_type=101,
            ssrc=0x1234,
            timestamp=start,
            sequence=100,
            clock_rate=8000,
        )
        decoded = self.decode(burst)
        second = (start + 0xFFFF) & 0xFFFFFFFF
        self.assertEqual([d[1] for d in decoded], list(range(100, 100 + len(decoded))))
        self.assertEqual([d[0] for d in decoded], sorted(d[0] for d in decoded))
        self.assertEqual([d[3] for d in decoded].count(True), 1)
        self.assertTrue(decoded[0][3])
        self.assertEqual({d[2] for d in decoded}, {start, second})
        first_ends = [d for d in decoded if d[2] == start and d[4].duration == 0xFFFF]
        self.assertEqual([d[4].end for d in first_ends], [False] * 3)
        self.assertEqual([d[0] for d in first_ends], [(0xFFFF + k * 400) / 8000 for k in range(3)])
        last_ends = [d for d in decoded if d[4].end]
        self.assertEqual(len(last_ends), 3)
        self.assertEqual({(d[2], d[4].duration) for d in last_ends}, {(second, 14465)})
        self.assertTrue(all(d[4].duration <= 0xFFFF for d in decoded))
        self.assertEqual(burst.next_sequence, 100 + len(decoded))

        receiver = DTMFReceiver(8000)
        digits = []
        for offset, data in burst.packets:
            digits += receiver.receive(parse_rtp(data), offset)
        self.assertEqual(digits, [DTMFDigit("#", 10000.0, start, 11)])

    def test_round_trip_each_digit(self) -> None:
        receiver = DTMFReceiver(8000)
        sequence, timestamp = 0, 0
        digits = []
        for digit in "0123456789*#ABCD!":
            burst = dtmf_packets(
                digit,
                120,
                payload_type=101,
                ssrc=0x1234,
                timestamp=timestamp,
                sequence=sequence,
                clock_rate=8000,
            )
            for offset, data in burst.packets:
                digits += receiver.receive(parse_rtp(data), offset)
            sequence = burst.next_sequence
            timestamp += 8000
        self.assertEqual("".join(d.digit for d in digits), "0123456789*#ABCD!")
        self.assertEqual({d.duration_ms for d in digits}, {120.0})

    def test_plan_for_a_shared_sequencer(self) -> None:
        plan = event_plan("9", 100, clock_rate=8000)
        self.assertEqual([p.offset for p in plan], [0.0, 0.05, 0.1, 0.15, 0.2])
        self.assertEqual([p.marker for p in plan], [True] + [False] * 4)
        self.assertEqual({p.timestamp_offset for p in plan}, {0})
        self.assertEqual(
            [parse_event(p.payload) for p in plan],
            [TelephoneEvent(9, False, 10, 0), TelephoneEvent(9, False, 10, 400)]
            + [TelephoneEvent(9, True, 10, 800)] * 3,
        )
        long = event_plan("9", 9000, clock_rate=8000)
        self.assertEqual(sorted({p.timestamp_offset for p in long}), [0, 0xFFFF])
        self.assertEqual(long[-1].offset, (72000 + 800) / 8000)

    def test_invalid(self) -> None:
        self.assertRaises(ValueError, event_plan, "1", -5, clock_rate=8000)
        kwargs = dict(payload_type=101, ssrc=1, timestamp=0, sequence=0, clock_rate=8000)
        self.assertRaises(ValueError, dtmf_packets, "X", 100, **kwargs)
        self.assertRaises(ValueError, dtmf_packets, "1", 0, **kwargs)
