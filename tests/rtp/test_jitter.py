"""Tests for L{roomkit_sip.rtp.jitter}."""

import struct

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.rtp import errors
from roomkit_sip.rtp.dtmf import DTMFReceiver, dtmf_packets
from roomkit_sip.rtp.jitter import LOST, NORMAL, Concealer, Frame, JitterBuffer
from roomkit_sip.rtp.packet import RTPPacket, RTPParseError, build_rtp, parse_rtp
from roomkit_sip.rtp.stats import BAD_SEQUENCE, NEW_SOURCE, RESTARTED, Counters, ReceptionStats


def packet(seq: int, ts: int | None = None, marker: bool = False) -> RTPPacket:
    seq &= 0xFFFF
    ts = seq * 160 if ts is None else ts
    return RTPPacket(marker, 0, seq, ts & 0xFFFFFFFF, 1, b"p%d" % seq)


def normal(seq: int, ts: int | None = None, marker: bool = False) -> Frame:
    p = packet(seq, ts, marker)
    return Frame(NORMAL, p.sequence, p.timestamp, p.payload, marker)


def kinds(frames) -> list[tuple[int, int]]:
    return [(f.kind, f.sequence) for f in frames]


class OrderingTests(SynchronousTestCase):
    def test_in_order_released_at_once(self) -> None:
        buffer = JitterBuffer()
        for seq in range(3):
            self.assertEqual(buffer.push(packet(seq), seq * 0.02), [normal(seq)])
        self.assertEqual(len(buffer), 0)

    def test_reordered_released_in_order(self) -> None:
        buffer = JitterBuffer()
        buffer.push(packet(0), 0.0)
        self.assertEqual(buffer.push(packet(2), 0.02), ())
        self.assertEqual(len(buffer), 1)
        self.assertEqual(buffer.push(packet(1), 0.03), [normal(1), normal(2)])
        self.assertEqual(buffer.counters.reordered, 1)
        self.assertEqual(buffer.counters.concealed, 0)

    def test_duplicate_of_released_packet(self) -> None:
        buffer = JitterBuffer()
        buffer.push(packet(0), 0.0)
        buffer.push(packet(1), 0.02)
        self.assertEqual(buffer.push(packet(1), 0.03), ())
        self.assertEqual((buffer.counters.duplicate, buffer.counters.late), (1, 0))

    def test_duplicate_of_buffered_packet(self) -> None:
        buffer = JitterBuffer()
        buffer.push(packet(0), 0.0)
        buffer.push(packet(2), 0.02)
        self.assertEqual(buffer.push(packet(2), 0.03), ())
        self.assertEqual(buffer.counters.duplicate, 1)
        self.assertEqual(buffer.push(packet(1), 0.04), [normal(1), normal(2)])

    def test_wraparound(self) -> None:
        buffer = JitterBuffer()
        released = []
        for i, seq in enumerate([65533, 65535, 0, 65534, 1]):
            released += buffer.push(packet(seq), i * 0.02)
        self.assertEqual(kinds(released), [(NORMAL, s) for s in (65533, 65534, 65535, 0, 1)])
        self.assertEqual(buffer.counters.reordered, 1)

    def test_talk_spurt_is_not_loss(self) -> None:
        # Silence suppression: sequence numbers continue, the timestamp jumps
        # and the marker bit flags the new talk spurt (RFC 3551 §4.1).
        buffer = JitterBuffer(skip_gaps=False)
        buffer.push(packet(0), 0.0)
        frames = buffer.push(packet(1, 160 + 80000, marker=True), 10.0)
        self.assertEqual(frames, [normal(1, 160 + 80000, marker=True)])
        self.assertEqual(buffer.counters.as_dict()["concealed"], 0)

    def test_non_media_fills_its_slot(self) -> None:
        buffer = JitterBuffer()
        self.assertEqual(buffer.push(packet(0), 0.0), [normal(0)])
        self.assertEqual(buffer.push_non_media(1, 0.02), ())
        self.assertEqual(buffer.push_non_media(2, 0.04), ())
        self.assertEqual(buffer.push(packet(3), 0.06), [normal(3)])
        buffer.push(packet(5), 0.07)
        self.assertEqual(buffer.push_non_media(4, 0.08), [normal(5)])
        counters = buffer.counters
        self.assertEqual((counters.concealed, counters.skipped, counters.reordered), (0, 0, 1))

    def test_non_media_first(self) -> None:
        buffer = JitterBuffer()
        self.assertEqual(buffer.push_non_media(7, 0.0), ())
        self.assertEqual(buffer.push(packet(8), 0.02), [normal(8)])


class HoleTests(SynchronousTestCase):
    def test_given_up_on_poll_after_max_wait(self) -> None:
        buffer = JitterBuffer(max_wait=0.06)
        buffer.push(packet(0), 0.0)
        self.assertIsNone(buffer.deadline())
        buffer.push(packet(2), 0.04)
        self.assertAlmostEqual(buffer.deadline(), 0.10)
        self.assertEqual(buffer.poll(0.09), ())
        self.assertEqual(kinds(buffer.poll(0.10)), [(LOST, 1), (NORMAL, 2)])
        self.assertEqual(buffer.counters.concealed, 1)
        self.assertIsNone(buffer.deadline())

    def test_given_up_when_a_packet_arrives_after_max_wait(self) -> None:
        buffer = JitterBuffer(max_wait=0.06)
        buffer.push(packet(0), 0.0)
        self.assertEqual(buffer.push(packet(2), 0.04), ())
        self.assertEqual(buffer.push(packet(3), 0.06), ())
        frames = buffer.push(packet(4), 0.11)
        self.assertEqual(kinds(frames), [(LOST, 1), (NORMAL, 2), (NORMAL, 3), (NORMAL, 4)])

    def test_late_packet_dropped(self) -> None:
        buffer = JitterBuffer(max_wait=0.06)
        buffer.push(packet(0), 0.0)
        buffer.push(packet(2), 0.02)
        buffer.poll(0.1)
        self.assertEqual(buffer.push(packet(1), 0.11), ())
        self.assertEqual((buffer.counters.late, buffer.counters.duplicate), (1, 0))

    def test_packet_from_before_the_stream_is_late(self) -> None:
        buffer = JitterBuffer()
        buffer.push(packet(10), 0.0)
        self.assertEqual(buffer.push(packet(9), 0.01), ())
        self.assertEqual((buffer.counters.late, buffer.counters.duplicate), (1, 0))

    def test_second_hole_times_from_its_own_packets(self) -> None:
        buffer = JitterBuffer(max_wait=0.06)
        buffer.push(packet(0), 0.0)
        buffer.push(packet(2), 0.02)
        buffer.push(packet(4), 0.07)
        # Hole 1 expires at 0.08; packet 4 has waited only 0.01 behind hole 3.
        self.assertEqual(kinds(buffer.poll(0.08)), [(LOST, 1), (NORMAL, 2)])
        self.assertAlmostEqual(buffer.deadline(), 0.13)
        self.assertEqual(kinds(buffer.poll(0.13)), [(LOST, 3), (NORMAL, 4)])

    def test_capacity_bound(self) -> None:
        buffer = JitterBuffer(capacity=4, max_wait=None)
        buffer.push(packet(0), 0.0)
        for seq in (2, 3, 4):
            self.assertEqual(buffer.push(packet(seq), 100.0), ())
        self.assertIsNone(buffer.deadline())
        self.assertEqual(buffer.poll(1000.0), ())
        frames = buffer.push(packet(5), 100.0)
        self.assertEqual(kinds(frames), [(LOST, 1)] + [(NORMAL, s) for s in (2, 3, 4, 5)])

    def test_skip_gaps_without_plc(self) -> None:
        buffer = JitterBuffer(capacity=1, skip_gaps=True, plc=False)
        buffer.push(packet(0), 0.0)
        self.assertEqual(buffer.push(packet(3), 0.02), [normal(3)])
        counters = buffer.counters
        self.assertEqual((counters.skipped, counters.filled, counters.concealed), (2, 0, 0))

    def test_silence_fill(self) -> None:
        buffer = JitterBuffer(capacity=1, skip_gaps=False, plc=False)
        buffer.push(packet(0), 0.0)
        frames = buffer.push(packet(3), 0.02)
        self.assertEqual(kinds(frames), [(LOST, 1), (LOST, 2), (NORMAL, 3)])
        counters = buffer.counters
        self.assertEqual((counters.skipped, counters.filled, counters.concealed), (0, 2, 0))

    def test_concealment_with_and_without_skip_gaps(self) -> None:
        for skip_gaps in (True, False):
            buffer = JitterBuffer(capacity=1, skip_gaps=skip_gaps, plc=True)
            buffer.push(packet(0), 0.0)
            frames = buffer.push(packet(2), 0.02)
            self.assertEqual(kinds(frames), [(LOST, 1), (NORMAL, 2)])
            self.assertEqual(buffer.counters.concealed, 1)

    def test_max_fill(self) -> None:
        buffer = JitterBuffer(capacity=1, max_fill=3)
        buffer.push(packet(0), 0.0)
        frames = buffer.push(packet(11), 0.02)
        self.assertEqual(kinds(frames), [(LOST, 1), (LOST, 2), (LOST, 3), (NORMAL, 11)])
        self.assertEqual((buffer.counters.concealed, buffer.counters.skipped), (3, 7))

    def test_lost_frame_timestamp_estimate(self) -> None:
        buffer = JitterBuffer(capacity=1)
        buffer.push(packet(0, 2**32 - 160), 0.0)
        buffer.push(packet(1, 0), 0.02)
        frames = buffer.push(packet(4, 480), 0.04)
        self.assertEqual([f.timestamp for f in frames], [160, 320, 480])
        self.assertEqual([f.payload for f in frames[:2]], [b"", b""])

    def test_flush(self) -> None:
        buffer = JitterBuffer(max_wait=None)
        buffer.push(packet(0), 0.0)
        buffer.push(packet(2), 0.0)
        buffer.push(packet(4), 0.0)
        self.assertEqual(kinds(buffer.flush()), [(LOST, 1), (NORMAL, 2), (LOST, 3), (NORMAL, 4)])
        self.assertEqual(len(buffer), 0)
        self.assertEqual(buffer.push(packet(5), 0.1), [normal(5)])
        self.assertEqual(buffer.flush(), [])


class PrefetchTests(SynchronousTestCase):
    def test_waits_for_prefetch_packets(self) -> None:
        buffer = JitterBuffer(prefetch=3)
        self.assertEqual(buffer.push(packet(0), 0.0), ())
        self.assertEqual(buffer.push(packet(1), 0.02), ())
        self.assertEqual(buffer.push(packet(2), 0.04), [normal(0), normal(1), normal(2)])
        self.assertEqual(buffer.push(packet(3), 0.06), [normal(3)])

    def test_earlier_packet_moves_the_start(self) -> None:
        buffer = JitterBuffer(prefetch=3)
        buffer.push(packet(5), 0.0)
        buffer.push(packet(4), 0.01)
        self.assertEqual(buffer.push(packet(6), 0.02), [normal(4), normal(5), normal(6)])
        self.assertEqual((buffer.counters.reordered, buffer.counters.late), (1, 0))

    def test_prefetch_ends_after_max_wait(self) -> None:
        buffer = JitterBuffer(prefetch=3, max_wait=0.06)
        buffer.push(packet(0), 0.0)
        self.assertAlmostEqual(buffer.deadline(), 0.06)
        self.assertEqual(buffer.poll(0.05), ())
        self.assertEqual(buffer.poll(0.06), [normal(0)])

    def test_reset_starts_a_new_stream(self) -> None:
        buffer = JitterBuffer(prefetch=2)
        buffer.push(packet(0), 0.0)
        buffer.push(packet(1), 0.02)
        buffer.push(packet(3), 0.04)
        buffer.reset()
        self.assertEqual(len(buffer), 0)
        self.assertEqual(buffer.push(packet(40000), 0.06), ())
        self.assertEqual(buffer.push(packet(40001), 0.08), [normal(40000), normal(40001)])
        self.assertEqual(buffer.counters.concealed, 0)


class ConfigurationTests(SynchronousTestCase):
    def test_invalid(self) -> None:
        self.assertRaises(ValueError, JitterBuffer, capacity=0)
        self.assertRaises(ValueError, JitterBuffer, capacity=4, prefetch=5)
        self.assertRaises(ValueError, JitterBuffer, prefetch=-1)

    def test_shared_counters(self) -> None:
        counters = Counters()
        buffer = JitterBuffer(counters=counters)
        buffer.push(packet(0), 0.0)
        buffer.push(packet(0), 0.0)
        self.assertIs(buffer.counters, counters)
        self.assertEqual(counters.duplicate, 1)

    def test_roomkit_defaults(self) -> None:
        buffer = JitterBuffer()
        self.assertEqual(
            (buffer.capacity, buffer.prefetch, buffer.skip_gaps, buffer.plc), (32, 0, True, True)
        )


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def unpcm(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 2}h", data)


class ConcealerTests(SynchronousTestCase):
    def test_silence_before_any_frame(self) -> None:
        self.assertEqual(Concealer(160).conceal(), bytes(320))

    def test_fade(self) -> None:
        concealer = Concealer(160, fade_frames=3)
        concealer.update(pcm(*[1000] * 160))
        first, second, third, fourth = (unpcm(concealer.conceal()) for _ in range(4))
        # Gain falls linearly over 3 * 160 samples: 1 at the first sample, 0 after the last.
        self.assertEqual((first[0], first[159]), (1000, 1000 * 321 // 480))
        self.assertEqual(second[0], 1000 * 320 // 480)
        self.assertEqual((third[0], third[159]), (1000 * 160 // 480, 1000 // 480))
        self.assertEqual(fourth, (0,) * 160)
        joined = first + second + third
        self.assertEqual(list(joined), sorted(joined, reverse=True))

    def test_negative_samples_keep_their_sign(self) -> None:
        concealer = Concealer(4, fade_frames=2)
        concealer.update(pcm(-8000, 8000, -8000, 8000))
        self.assertEqual(unpcm(concealer.conceal()), (-8000, 7000, -6000, 5000))

    def test_real_frame_restarts_the_fade(self) -> None:
        concealer = Concealer(2, fade_frames=1)
        concealer.update(pcm(100, 100))
        self.assertEqual(unpcm(concealer.conceal()), (100, 50))
        self.assertEqual(concealer.conceal(), bytes(4))
        concealer.update(pcm(200, 200))
        self.assertEqual(unpcm(concealer.conceal()), (200, 100))

    def test_silence_fill_follows_frame_size(self) -> None:
        concealer = Concealer(160, fade_frames=0)
        concealer.update(pcm(*[5] * 320))
        self.assertEqual(concealer.conceal(), bytes(640))


class ReceivePath:
    """
    The per-packet flow the media session follows, as documented in the
    modules: parse, statistics, then the jitter buffer for audio and the
    DTMF receiver for telephone events.
    """

    AUDIO, EVENTS = 0, 101

    def __init__(self) -> None:
        self.stats = ReceptionStats(8000)
        self.jitter = JitterBuffer(counters=self.stats.counters)
        self.dtmf = DTMFReceiver(8000)
        self.concealer = Concealer(160)
        self.frames: list[tuple[int, int]] = []
        self.digits: list[str] = []
        self.rtcp: list[bytes] = []

    def datagram(self, data: bytes, now: float) -> None:
        try:
            packet = parse_rtp(data)
        except RTPParseError as e:
            if e.reason == errors.RTCP_ON_RTP_PORT:
                self.rtcp.append(data)
            else:
                self.stats.counters.dropped_invalid += 1
            return
        verdict = self.stats.update(packet, now, timing=packet.payload_type == self.AUDIO)
        if verdict == BAD_SEQUENCE:
            return
        if verdict in (NEW_SOURCE, RESTARTED):
            self.play(self.jitter.flush())
            self.jitter.reset()
            self.digits += [d.digit for d in self.dtmf.flush()]
        if packet.payload_type == self.AUDIO:
            self.digits += [d.digit for d in self.dtmf.audio(packet.timestamp, now)]
            self.play(self.jitter.push(packet, now))
        else:
            if packet.payload_type == self.EVENTS:
                self.digits += [d.digit for d in self.dtmf.receive(packet, now)]
            else:
                self.stats.counters.dropped_unknown_pt += 1
            self.play(self.jitter.push_non_media(packet.sequence, now))

    def tick(self, now: float) -> None:
        self.play(self.jitter.poll(now))
        self.digits += [d.digit for d in self.dtmf.poll(now)]

    def play(self, frames) -> None:
        for frame in frames:
            if frame.kind == NORMAL:
                self.concealer.update(bytes(320))
            else:
                self.concealer.conceal()
            self.frames.append((frame.kind, frame.sequence))


class ReceivePathTests(SynchronousTestCase):
    def test_call(self) -> None:
        path = ReceivePath()
        clock = iter(i * 0.02 for i in range(1000))

        def audio(seq: int, ssrc: int = 1) -> None:
            data = build_rtp(0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, bytes(160))
            path.datagram(data, next(clock))

        for seq in range(65530, 65536):
            audio(seq)
        burst = dtmf_packets(
            "7",
            100,
            payload_type=101,
            ssrc=1,
            timestamp=65536 * 160 & 0xFFFFFFFF,
            sequence=0,
            clock_rate=8000,
        )
        for _, data in burst.packets:
            path.datagram(data, next(clock))
        path.datagram(build_rtp(13, burst.next_sequence, 0, 1, b"\x40"), next(clock))  # CN
        first = burst.next_sequence + 1
        for seq in (first, first + 2, first + 1, first + 3, first + 5, first + 6, first + 7):
            audio(65536 + seq)
        path.datagram(b"\x81\xc9\x00\x01\x00\x00\x00\x01", next(clock))  # RTCP (mux)
        path.datagram(b"\x80\x00", next(clock))
        for seq in range(300, 303):
            audio(seq, ssrc=2)
        path.tick(100.0)

        self.assertEqual(path.digits, ["7"])
        self.assertEqual(path.rtcp, [b"\x81\xc9\x00\x01\x00\x00\x00\x01"])
        audio_seqs = [s & 0xFFFF for s in range(65530, 65536)]
        audio_seqs += [first + i for i in range(4)]
        self.assertEqual(
            path.frames,
            [(NORMAL, s) for s in audio_seqs]
            + [(LOST, first + 4)]
            + [(NORMAL, first + i) for i in (5, 6, 7)]
            + [(NORMAL, s) for s in range(300, 303)],
        )
        counters = path.stats.counters.as_dict()
        self.assertEqual(
            {
                k: counters[k]
                for k in (
                    "reordered",
                    "concealed",
                    "dropped_invalid",
                    "dropped_unknown_pt",
                    "ssrc_changes",
                )
            },
            dict(
                reordered=1, concealed=1, dropped_invalid=1, dropped_unknown_pt=1, ssrc_changes=1
            ),
        )
