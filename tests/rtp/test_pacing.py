"""The shared media clock and the per-call outbound stream, driven by task.Clock."""

import random
from dataclasses import dataclass

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs.g711 import PCMU
from roomkit_sip.codecs.g722 import G722
from roomkit_sip.rtp.pacing import MediaClock, OutboundStream, Playout, RtpSequencer

FRAME = 0.02
#: 20 ms of 8 kHz PCM: 160 samples, 320 bytes, 160 RTP clock units.
FRAME_BYTES = 320
TS_STEP = 160


def advance(clock: Clock, seconds: float) -> None:
    """Advance by C{seconds}, plus a nanosecond so float rounding cannot hold back a due tick."""
    clock.advance(seconds + 1e-9)


def pcm_frames(count: int, first: int = 1) -> bytes:
    """C{count} frames, each filled with a distinct byte so they can be told apart."""
    return b"".join(bytes([(first + i) % 256]) * FRAME_BYTES for i in range(count))


class Recorder:
    """A tickable that remembers the times it was ticked at."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def tick(self, now: float) -> None:
        self.times.append(now)


@dataclass(frozen=True)
class Packet:
    seq: int
    timestamp: int
    marker: bool
    comfort_noise: bool
    payload: bytes


@dataclass(frozen=True)
class Played:
    pcm: bytes
    timestamp: int
    played_bytes: int
    buffer_ms: float
    ended: bool


class Wire:
    """
    Stands in for the media session: numbers each packet from the shared
    sequencer, as the session does, and records what was sent and reported.
    """

    def __init__(self, **options) -> None:
        options.setdefault("sequencer", RtpSequencer(seq=65530, timestamp=2**32 - 400))
        self.stream = OutboundStream(
            160, 8000, TS_STEP, on_frame=self.on_frame, on_played=self.on_played, **options
        )
        self.packets: list[Packet] = []
        self.played: list[Played] = []
        self.now = 100.0

    def on_frame(self, payload: bytes, timestamp: int, marker: bool, cn: bool) -> None:
        seq = self.stream.sequencer.next_seq()
        self.packets.append(Packet(seq, timestamp, marker, cn, payload))

    def on_played(self, pcm, timestamp, played_bytes, buffer_ms, ended) -> None:
        self.played.append(Played(pcm, timestamp, played_bytes, buffer_ms, ended))

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.now += FRAME
            self.stream.tick(self.now)

    def audio(self) -> list[Packet]:
        return [p for p in self.packets if not p.comfort_noise]


class MediaClockTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        advance(self.clock, 1000.0)
        self.media = MediaClock(self.clock)

    def next_call_time(self) -> float:
        calls = self.clock.getDelayedCalls()
        self.assertEqual(len(calls), 1)
        return calls[0].getTime()

    def test_no_drift_over_1000_late_wakeups(self) -> None:
        """
        Each wake-up comes up to 15 ms late, yet tick n is still scheduled
        for and stamped start + n·20 ms: lateness never accumulates.
        """
        recorder = Recorder()
        start = self.clock.seconds()
        self.media.register(recorder)
        jitter = random.Random(20)
        for n in range(1, 1001):
            due = self.next_call_time()
            self.assertAlmostEqual(due, start + n * FRAME, places=9)
            advance(self.clock, due - self.clock.seconds() + jitter.uniform(0, 0.015))
        self.assertEqual(len(recorder.times), 1000)
        for n, now in enumerate(recorder.times, 1):
            self.assertAlmostEqual(now, start + n * FRAME, places=9)
        self.assertEqual((self.media.ticks, self.media.skipped_ticks), (1000, 0))
        self.assertLess(self.clock.seconds() - start, 1000 * FRAME + 0.015)

    def test_short_lateness_is_caught_up(self) -> None:
        """A wake-up 50 ms late delivers the three ticks due, back to back, in order."""
        recorder = Recorder()
        start = self.clock.seconds()
        self.media.register(recorder)
        advance(self.clock, 0.065)
        self.assertEqual(len(recorder.times), 3)
        for n, now in enumerate(recorder.times, 1):
            self.assertAlmostEqual(now, start + n * FRAME, places=9)
        self.assertEqual(self.media.skipped_ticks, 0)
        self.assertAlmostEqual(self.next_call_time(), start + 4 * FRAME, places=9)

    def test_bounded_catch_up_after_stall(self) -> None:
        """
        After a 500 ms stall only the 3 most recent overdue ticks are
        delivered; the other 22 are skipped, counted and logged.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        recorder = Recorder()
        start = self.clock.seconds()
        self.media.register(recorder)
        advance(self.clock, FRAME)
        advance(self.clock, 0.5)
        expected = [start + n * FRAME for n in (1, 24, 25, 26)]
        self.assertEqual(len(recorder.times), 4)
        for got, want in zip(recorder.times, expected):
            self.assertAlmostEqual(got, want, places=9)
        self.assertEqual((self.media.ticks, self.media.skipped_ticks), (4, 22))
        self.assertAlmostEqual(self.next_call_time(), start + 27 * FRAME, places=9)
        self.assertEqual([e["skipped"] for e in events if "skipped" in e], [22])

    def test_one_timer_for_300_streams(self) -> None:
        """Three hundred calls share one pending IDelayedCall, and all are ticked."""
        streams = [Recorder() for _ in range(300)]
        for stream in streams:
            self.media.register(stream)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        for _ in range(10):
            advance(self.clock, FRAME)
            self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual({len(s.times) for s in streams}, {10})
        self.assertEqual(len(self.media), 300)

    def test_timer_gone_with_last_stream(self) -> None:
        """No stream, no timer; the next registration starts a fresh grid."""
        a, b = Recorder(), Recorder()
        self.media.register(a)
        self.media.register(b)
        self.media.unregister(a)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.media.unregister(b)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.media.running)
        advance(self.clock, 1.0)
        self.assertEqual((a.times, b.times), ([], []))
        advance(self.clock, 0.007)
        restart = self.clock.seconds()
        self.media.register(a)
        self.assertTrue(self.media.running)
        self.assertAlmostEqual(self.next_call_time(), restart + FRAME, places=9)

    def test_register_and_unregister_idempotent(self) -> None:
        recorder = Recorder()
        self.media.register(recorder)
        self.media.register(recorder)
        advance(self.clock, FRAME)
        self.assertEqual(len(recorder.times), 1)
        self.media.unregister(recorder)
        self.media.unregister(recorder)
        self.assertNotIn(recorder, self.media)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_last_stream_leaving_during_tick(self) -> None:
        """A stream that unregisters itself while ticked leaves no timer behind."""
        media = self.media

        class Leaver:
            def tick(self, now: float) -> None:
                media.unregister(self)

        media.register(Leaver())
        advance(self.clock, FRAME)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(media.running)

    def test_changes_during_tick(self) -> None:
        """A stream unregistered mid-tick is skipped; one registered mid-tick starts next tick."""
        late, victim, survivor = Recorder(), Recorder(), Recorder()
        media = self.media

        class Meddler:
            def tick(self, now: float) -> None:
                media.unregister(victim)
                media.register(late)

        media.register(Meddler())
        media.register(victim)
        media.register(survivor)
        advance(self.clock, FRAME)
        self.assertEqual((len(victim.times), len(survivor.times), len(late.times)), (0, 1, 0))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        advance(self.clock, FRAME)
        self.assertEqual((len(survivor.times), len(late.times)), (2, 1))

    def test_failing_stream_does_not_stop_others(self) -> None:
        """An exception from one stream is logged; the others and the timer carry on."""

        class Broken:
            def tick(self, now: float) -> None:
                raise ZeroDivisionError("broken stream")

        before, after = Recorder(), Recorder()
        self.media.register(before)
        self.media.register(Broken())
        self.media.register(after)
        advance(self.clock, FRAME)
        advance(self.clock, FRAME)
        self.assertEqual((len(before.times), len(after.times)), (2, 2))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)
        self.assertTrue(self.media.running)

    def test_frame_duration_must_match(self) -> None:
        """A stream cut in 30 ms frames is refused by a 20 ms clock."""
        stream = OutboundStream(240, 8000, 240, on_frame=lambda *a: None)
        self.assertEqual(stream.frame_ms, 30.0)
        self.assertRaises(ValueError, self.media.register, stream)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.media.register(OutboundStream(320, 16000, 160, on_frame=lambda *a: None))
        self.assertTrue(self.media.running)

    def test_arguments_checked(self) -> None:
        self.assertRaises(ValueError, MediaClock, self.clock, 0)
        self.assertRaises(ValueError, MediaClock, self.clock, 20, 0)


class PrebufferTests(SynchronousTestCase):
    def test_waits_for_80_ms(self) -> None:
        """Playback starts only once 80 ms (4 frames) are queued."""
        wire = Wire()
        wire.stream.push(pcm_frames(3))
        wire.tick(5)
        self.assertEqual(wire.packets, [])
        self.assertTrue(wire.stream.is_playing)
        wire.stream.push(pcm_frames(1, first=4))
        wire.tick(4)
        self.assertEqual([p.payload[0] for p in wire.packets], [1, 2, 3, 4])

    def test_end_of_response_starts_early(self) -> None:
        """A response shorter than the prebuffer plays as soon as it is complete."""
        wire = Wire()
        wire.stream.push(pcm_frames(1))
        wire.tick(3)
        self.assertEqual(wire.packets, [])
        wire.stream.end_of_response()
        wire.tick()
        self.assertEqual(len(wire.packets), 1)

    def test_zero_prebuffer(self) -> None:
        """prebuffer_ms=0 sends the first whole frame on the next tick."""
        wire = Wire(prebuffer_ms=0)
        wire.stream.push(pcm_frames(1))
        wire.tick()
        self.assertEqual(len(wire.packets), 1)

    def test_underrun_waits_for_prebuffer_again(self) -> None:
        """When the producer falls behind, playback pauses until 80 ms are queued again."""
        wire = Wire()
        wire.stream.push(pcm_frames(4))
        wire.tick(6)
        self.assertEqual(len(wire.packets), 4)
        wire.stream.push(pcm_frames(2, first=5))
        wire.tick(3)
        self.assertEqual(len(wire.packets), 4)
        self.assertTrue(wire.stream.is_playing)
        wire.stream.push(pcm_frames(2, first=7))
        wire.tick(4)
        self.assertEqual([p.payload[0] for p in wire.packets], list(range(1, 9)))
        markers = [p.marker for p in wire.packets]
        self.assertEqual(markers, [True] + [False] * 3 + [True] + [False] * 3)


class FramingTests(SynchronousTestCase):
    def test_any_chunking(self) -> None:
        """Chunks of any size are cut into exact frames, in order, nothing lost."""
        wire = Wire(prebuffer_ms=0)
        audio = bytes(random.Random(3).randrange(256) for _ in range(FRAME_BYTES * 7 + 100))
        rng = random.Random(4)
        offset = 0
        while offset < len(audio):
            size = rng.randrange(1, 700)
            wire.stream.push(audio[offset : offset + size])
            offset += size
        wire.stream.end_of_response()
        wire.tick(10)
        sent = b"".join(p.payload for p in wire.packets)
        self.assertEqual(len(wire.packets), 8)
        self.assertEqual(sent, audio + bytes(FRAME_BYTES - 100))

    def test_for_codec(self) -> None:
        """G.722 frames are 320 samples (640 bytes) but advance the timestamp by 160."""
        sent = []
        stream = OutboundStream.for_codec(
            G722, prebuffer_ms=0, on_frame=lambda *a: sent.append(a), sequencer=RtpSequencer(0, 0)
        )
        stream.push(bytes(640 * 2))
        stream.tick(1.0)
        stream.tick(1.02)
        self.assertEqual([(len(s[0]), s[1]) for s in sent], [(640, 0), (640, 160)])
        pcmu = OutboundStream.for_codec(PCMU, on_frame=lambda *a: None)
        pcmu.push(bytes(320))
        self.assertEqual(pcmu.queued_ms, 20.0)

    def test_arguments_checked(self) -> None:
        def make(**kw):
            return OutboundStream(160, 8000, 160, on_frame=lambda *a: None, **kw)

        self.assertRaises(ValueError, make, silence_fill=True, comfort_noise=True)
        self.assertRaises(ValueError, make, prebuffer_ms=-1)
        self.assertRaises(ValueError, make, comfort_noise=True, comfort_noise_interval_ms=0)
        self.assertRaises(ValueError, OutboundStream, 0, 8000, 160, on_frame=lambda *a: None)


class EndOfResponseTests(SynchronousTestCase):
    def test_pads_and_fires_drain(self) -> None:
        """
        The partial last frame goes out padded with zeros, and the drain
        Deferred fires on the tick that sends it, not before.
        """
        wire = Wire()
        wire.stream.push(pcm_frames(2) + b"\x07" * 100)
        drained = wire.stream.when_drained()
        wire.stream.end_of_response()
        wire.tick(2)
        self.assertNoResult(drained)
        wire.tick()
        self.assertEqual(self.successResultOf(drained), Playout.COMPLETED)
        self.assertEqual(wire.packets[-1].payload, b"\x07" * 100 + bytes(FRAME_BYTES - 100))
        self.assertFalse(wire.stream.is_playing)

    def test_drain_waiter_covers_only_what_was_queued(self) -> None:
        """A waiter fires when its audio is out, even though more was queued after it."""
        wire = Wire()
        wire.stream.push(pcm_frames(4))
        first = wire.stream.when_drained()
        wire.stream.push(pcm_frames(4, first=5))
        wire.stream.end_of_response()
        everything = wire.stream.when_drained()
        wire.tick(4)
        self.assertEqual(self.successResultOf(first), Playout.COMPLETED)
        self.assertNoResult(everything)
        wire.tick(4)
        self.assertEqual(self.successResultOf(everything), Playout.COMPLETED)

    def test_waiter_includes_partial_frame(self) -> None:
        """Bytes not yet making a whole frame count as queued for when_drained."""
        wire = Wire()
        wire.stream.push(b"\x01" * 100)
        drained = wire.stream.when_drained()
        wire.stream.push(b"\x01" * (FRAME_BYTES * 4 - 100))
        wire.tick()
        self.assertEqual(self.successResultOf(drained), Playout.COMPLETED)

    def test_nothing_queued(self) -> None:
        """Nothing queued: already drained, and end_of_response reports nothing."""
        wire = Wire()
        self.assertEqual(self.successResultOf(wire.stream.when_drained()), Playout.COMPLETED)
        wire.stream.end_of_response()
        self.assertEqual(wire.played, [])
        self.assertFalse(wire.stream.is_playing)

    def test_after_underrun(self) -> None:
        """end_of_response after everything went out ends the response at once."""
        wire = Wire()
        wire.stream.push(pcm_frames(4))
        wire.tick(6)
        self.assertTrue(wire.stream.is_playing)
        wire.stream.end_of_response()
        self.assertFalse(wire.stream.is_playing)
        end = (wire.packets[-1].timestamp + TS_STEP) % 2**32
        self.assertEqual(wire.played[-1], Played(b"", end, 0, 0.0, True))


class InterruptTests(SynchronousTestCase):
    def test_barge_in(self) -> None:
        """
        interrupt() flushes the queue: waiters fire INTERRUPTED, the end is
        reported, and no further audio leaves, however long we wait.
        """
        wire = Wire()
        wire.stream.push(pcm_frames(50))
        wire.stream.end_of_response()
        drained = wire.stream.when_drained()
        wire.tick(5)
        self.assertTrue(wire.stream.interrupt())
        self.assertEqual(self.successResultOf(drained), Playout.INTERRUPTED)
        self.assertFalse(wire.stream.is_playing)
        last = wire.packets[-1]
        self.assertEqual(wire.played[-1], Played(b"", last.timestamp + TS_STEP, 0, 0.0, True))
        wire.tick(100)
        self.assertEqual(len(wire.packets), 5)
        self.assertEqual(wire.stream.queued_ms, 0.0)

    def test_within_one_frame_on_the_media_clock(self) -> None:
        """Interrupting between two ticks: at most one more frame, here none."""
        clock = Clock()
        media = MediaClock(clock)
        wire = Wire()
        media.register(wire.stream)
        wire.stream.push(pcm_frames(50))
        advance(clock, 0.1)
        sent = len(wire.packets)
        advance(clock, 0.013)
        wire.stream.interrupt()
        advance(clock, 1.0)
        self.assertLessEqual(len(wire.packets) - sent, 1)
        self.assertEqual(len(wire.packets), sent)

    def test_idle(self) -> None:
        """Nothing playing: interrupt() says so and reports nothing."""
        wire = Wire()
        self.assertFalse(wire.stream.interrupt())
        self.assertEqual(wire.played, [])

    def test_next_response_after_interrupt(self) -> None:
        """A response after barge-in prebuffers afresh and starts a new talk spurt."""
        wire = Wire()
        wire.stream.push(pcm_frames(10))
        wire.tick(3)
        wire.stream.interrupt()
        wire.tick(2)
        wire.stream.push(pcm_frames(4, first=100))
        wire.tick()
        self.assertEqual(wire.packets[-1].payload[0], 100)
        self.assertTrue(wire.packets[-1].marker)


class TimelineTests(SynchronousTestCase):
    def test_marker_on_spurt_start_only(self) -> None:
        """RFC 3551 §4.1: the marker bit is set on the first packet of each talk spurt."""
        wire = Wire()
        for _ in range(3):
            wire.stream.push(pcm_frames(5))
            wire.stream.end_of_response()
            wire.tick(10)
        self.assertEqual([p.marker for p in wire.packets], ([True] + [False] * 4) * 3)

    def test_timestamps_continuous_across_a_gap(self) -> None:
        """
        After a 1 s pause the timestamp has moved on by 50 frames of real time,
        while sequence numbers (wrapping at 2**16) stay contiguous.
        """
        wire = Wire()
        wire.stream.push(pcm_frames(4))
        wire.stream.end_of_response()
        wire.tick(4)
        wire.tick(50)
        wire.stream.push(pcm_frames(4))
        wire.stream.end_of_response()
        wire.tick(4)
        first, second = wire.packets[:4], wire.packets[4:]
        start = 2**32 - 400
        self.assertEqual(
            [p.timestamp for p in first], [(start + i * TS_STEP) % 2**32 for i in range(4)]
        )
        self.assertEqual(second[0].timestamp, (start + 54 * TS_STEP) % 2**32)
        self.assertEqual([p.seq for p in wire.packets], [65530 + i & 0xFFFF for i in range(8)])
        self.assertEqual(
            [(b.timestamp - a.timestamp) % 2**32 for a, b in zip(second, second[1:])], [160] * 3
        )

    def test_stall_keeps_timestamps_on_real_time(self) -> None:
        """
        Through a 500 ms reactor stall: frames are delayed, not lost, and the
        timestamp jumps by the skipped time while sequence numbers do not.
        """
        clock = Clock()
        media = MediaClock(clock)
        wire = Wire(prebuffer_ms=0)
        media.register(wire.stream)
        wire.stream.push(pcm_frames(40))
        advance(clock, FRAME)
        advance(clock, 0.5)
        advance(clock, FRAME)
        pairs = list(zip(wire.packets, wire.packets[1:]))
        steps = [(b.timestamp - a.timestamp) % 2**32 // TS_STEP for a, b in pairs]
        self.assertEqual(steps, [23, 1, 1, 1])
        self.assertEqual([p.payload[0] for p in wire.packets], [1, 2, 3, 4, 5])
        self.assertEqual([(b.seq - a.seq) & 0xFFFF for a, b in pairs], [1] * 4)

    def test_dtmf_shares_the_sequencer(self) -> None:
        """
        A telephone event sent between ticks takes the next sequence number and
        the current tick's timestamp; audio carries on after it without a gap
        in sequence numbers.
        """
        wire = Wire(prebuffer_ms=0)
        wire.stream.push(pcm_frames(3))
        wire.tick()
        audio_ts = wire.packets[-1].timestamp
        dtmf_seq, dtmf_ts = wire.stream.sequencer.next_seq(), wire.stream.sequencer.timestamp
        wire.tick()
        self.assertEqual(dtmf_ts, audio_ts)
        self.assertEqual(
            [wire.packets[0].seq, dtmf_seq, wire.packets[1].seq], [65530, 65531, 65532]
        )

    def test_random_start(self) -> None:
        """Without explicit values the sequencer starts at random points (RFC 3550 §5.1)."""
        starts = {(s.next_seq(), s.timestamp) for s in (RtpSequencer() for _ in range(20))}
        self.assertGreater(len(starts), 1)
        self.assertEqual(RtpSequencer(seq=65535).next_seq(), 65535)
        sequencer = RtpSequencer(seq=65535, timestamp=2**32 - 1)
        sequencer.next_seq()
        sequencer.advance(2)
        self.assertEqual((sequencer.next_seq(), sequencer.timestamp), (0, 1))


class PlayedReportTests(SynchronousTestCase):
    def test_reports_carry_what_was_sent(self) -> None:
        """
        One report per frame sent, with exactly that PCM, the application's
        bytes in it, the audio still queued, then one final ended report.
        """
        wire = Wire()
        audio = pcm_frames(4) + b"\x09" * 60
        wire.stream.push(audio)
        wire.stream.end_of_response()
        wire.tick(6)
        self.assertEqual([p.pcm for p in wire.played[:-1]], [p.payload for p in wire.packets])
        self.assertEqual(
            [p.timestamp for p in wire.played[:-1]], [p.timestamp for p in wire.packets]
        )
        self.assertEqual([p.played_bytes for p in wire.played], [320] * 4 + [60, 0])
        self.assertEqual([p.buffer_ms for p in wire.played], [80.0, 60.0, 40.0, 20.0, 0.0, 0.0])
        self.assertEqual([p.ended for p in wire.played], [False] * 5 + [True])
        heard = b"".join(p.pcm[: p.played_bytes] for p in wire.played)
        self.assertEqual(heard, audio)
        self.assertEqual(wire.played[-1].timestamp, (wire.packets[-1].timestamp + TS_STEP) % 2**32)


class SilenceFillTests(SynchronousTestCase):
    def test_off_by_default(self) -> None:
        """Without silence fill nothing is sent between responses."""
        wire = Wire()
        wire.tick(10)
        self.assertEqual(wire.packets, [])

    def test_fills_gaps(self) -> None:
        """
        Silence frames go out whenever there is no audio, reported with
        played_bytes 0; the stream is one talk spurt, so only its first packet
        has the marker bit.
        """
        wire = Wire(silence_fill=True)
        wire.tick(3)
        wire.stream.push(pcm_frames(4))
        wire.stream.end_of_response()
        wire.tick(6)
        self.assertEqual(len(wire.packets), 9)
        self.assertEqual([p.payload[0] for p in wire.packets], [0, 0, 0, 1, 2, 3, 4, 0, 0])
        self.assertEqual([p.marker for p in wire.packets], [True] + [False] * 8)
        silence = [p for p in wire.played if not p.ended and p.pcm == bytes(FRAME_BYTES)]
        self.assertEqual({p.played_bytes for p in silence}, {0})
        self.assertEqual(len(silence), 5)
        self.assertFalse(any(p.comfort_noise for p in wire.packets))


class ComfortNoiseTests(SynchronousTestCase):
    def test_cn_at_spurt_end_then_every_200_ms(self) -> None:
        """
        RFC 3389 §4: a CN packet starts each silence (at call start and right
        after a talk spurt), then repeats every 200 ms; speech after it is a
        new talk spurt.  CN packets are not reported as played audio.
        """
        wire = Wire(comfort_noise=True, comfort_noise_level=70)
        wire.tick(15)
        wire.stream.push(pcm_frames(4))
        wire.stream.end_of_response()
        wire.tick(4 + 25)
        wire.stream.push(pcm_frames(4))
        wire.tick()
        kinds = ["cn" if p.comfort_noise else "audio" for p in wire.packets]
        self.assertEqual(kinds, ["cn"] * 2 + ["audio"] * 4 + ["cn"] * 3 + ["audio"])
        cn = [p for p in wire.packets if p.comfort_noise]
        self.assertEqual({p.payload for p in cn}, {bytes([70])})
        self.assertEqual({p.marker for p in cn}, {False})
        ticks = [(p.timestamp - (2**32 - 400)) % 2**32 // TS_STEP for p in wire.packets]
        self.assertEqual(ticks, [0, 10, 15, 16, 17, 18, 19, 29, 39, 44])
        self.assertTrue(wire.packets[-1].marker)
        self.assertEqual([p.played_bytes for p in wire.played], [320] * 4 + [0, 320])
        self.assertFalse(any(p.pcm == bytes([70]) for p in wire.played))

    def test_default_level_is_silence(self) -> None:
        """We send digital silence, so the default level is the quietest, 127."""
        wire = Wire(comfort_noise=True)
        wire.tick()
        self.assertEqual(wire.packets[0].payload, b"\x7f")


class RobustnessTests(SynchronousTestCase):
    def test_failing_send_keeps_the_stream_consistent(self) -> None:
        """
        If the session's send raises on the last frame, the stream still ends
        the response and fires its waiters; the media clock logs the error.
        """
        clock = Clock()
        media = MediaClock(clock)
        failures = []

        def on_frame(payload, timestamp, marker, cn) -> None:
            failures.append(timestamp)
            raise OSError("network unreachable")

        stream = OutboundStream(160, 8000, 160, on_frame=on_frame, prebuffer_ms=0)
        media.register(stream)
        stream.push(pcm_frames(2))
        stream.end_of_response()
        drained = stream.when_drained()
        advance(clock, 3 * FRAME)
        self.assertEqual(len(failures), 2)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 2)
        self.assertEqual(self.successResultOf(drained), Playout.COMPLETED)
        self.assertFalse(stream.is_playing)

    def test_cancelled_waiter_is_skipped(self) -> None:
        """A drain Deferred the caller cancelled is not fired again."""
        wire = Wire()
        wire.stream.push(pcm_frames(4))
        cancelled = wire.stream.when_drained()
        cancelled.cancel()
        self.failureResultOf(cancelled)
        wire.stream.push(pcm_frames(1))
        kept = wire.stream.when_drained()
        wire.tick(5)
        self.assertEqual(self.successResultOf(kept), Playout.COMPLETED)
        self.assertEqual(len(wire.packets), 5)


class MarkNextTests(SynchronousTestCase):
    """mark_next(): a gap the stream did not cause still starts a talk spurt."""

    def test_next_audio_packet_carries_the_marker(self) -> None:
        """
        The session dropped a frame (nowhere to send it): the packet after
        it starts a talk spurt, and only that one.
        """
        wire = Wire(prebuffer_ms=0)
        wire.stream.push(pcm_frames(6))
        wire.tick(2)
        wire.stream.mark_next()
        wire.tick(4)
        self.assertEqual([p.marker for p in wire.packets], [True, False, True] + [False] * 3)

    def test_marked_from_inside_the_frame_callback(self) -> None:
        """A frame the session refuses while handling it marks the next one."""
        sent: list[tuple[int, bool]] = []

        def on_frame(payload, timestamp, marker, cn) -> None:
            if timestamp in (160, 320):
                stream.mark_next()  # nowhere to send it: dropped
            else:
                sent.append((timestamp, marker))

        stream = OutboundStream(
            160, 8000, TS_STEP, on_frame=on_frame, prebuffer_ms=0, sequencer=RtpSequencer(0, 0)
        )
        stream.push(pcm_frames(5))
        for n in range(5):
            stream.tick(1.0 + n * FRAME)
        self.assertEqual(sent, [(0, True), (480, True), (640, False)])

    def test_silence_fill_after_a_pause(self) -> None:
        """With silence fill a stream is one talk spurt, until told of a gap."""
        wire = Wire(silence_fill=True)
        wire.tick(3)
        wire.stream.mark_next()
        wire.tick(2)
        self.assertEqual([p.marker for p in wire.packets], [True, False, False, True, False])

    def test_comfort_noise_is_never_marked(self) -> None:
        """CN packets carry no marker (RFC 3389 §4); the next speech packet does."""
        wire = Wire(comfort_noise=True)
        wire.tick()
        wire.stream.mark_next()
        wire.tick(10)
        wire.stream.push(pcm_frames(4))
        wire.tick()
        self.assertEqual(
            [(p.comfort_noise, p.marker) for p in wire.packets],
            [(True, False), (True, False), (False, True)],
        )


class StreamSwapTests(SynchronousTestCase):
    """A new OutboundStream on the same sequencer (a codec change) carries on its timeline."""

    def swap(self, old_ticks: int = TS_STEP, new_ticks: int = TS_STEP):
        sent: list[tuple[str, int, bool]] = []
        sequencer = RtpSequencer(0, 2**32 - TS_STEP)

        def stream(name: str, ticks: int) -> OutboundStream:
            def on_frame(payload, timestamp, marker, cn) -> None:
                sent.append((name, timestamp, marker))

            out = OutboundStream(
                160, 8000, ticks, on_frame=on_frame, prebuffer_ms=0, sequencer=sequencer
            )
            out.push(pcm_frames(10))
            return out

        old = stream("old", old_ticks)
        old.tick(1.0)
        old.tick(1.02)
        return stream("new", new_ticks), sent

    def test_next_tick(self) -> None:
        """
        The new stream's first tick is one frame on from the old one's last:
        no timestamp is sent twice (wrapping at 2**32 on the way), and the
        new stream starts a talk spurt.
        """
        new, sent = self.swap()
        new.tick(1.04)
        new.tick(1.06)
        self.assertEqual(
            sent,
            [
                ("old", 2**32 - 160, True),
                ("old", 0, False),
                ("new", 160, True),
                ("new", 320, False),
            ],
        )

    def test_after_a_pause(self) -> None:
        """Swapped while nothing ticked (a telephone event): the time elapsed still counts."""
        new, sent = self.swap()
        new.tick(1.52)
        self.assertEqual(sent[-1], ("new", 25 * TS_STEP, True))

    def test_time_before_the_swap_counts_at_the_old_rate(self) -> None:
        """
        From a 160-unit to a 320-unit frame (an 8 to a 16 kHz RTP clock):
        the frame the old stream stamped lasts 160 units, later ones 320.
        """
        new, sent = self.swap(new_ticks=320)
        new.tick(1.04)
        new.tick(1.06)
        self.assertEqual([ts for _, ts, _ in sent[-2:]], [160, 480])


class TimestampAtTests(SynchronousTestCase):
    """Where "now" lies on the RTP timeline between ticks."""

    def test_between_ticks(self) -> None:
        """The last tick's timestamp plus the whole frames elapsed since."""
        sequencer = RtpSequencer(7, 1000)
        self.assertEqual(sequencer.timestamp_at(5.0), 1000)  # not ticked yet
        self.assertEqual(sequencer.tick(1.0, FRAME, TS_STEP), 1000)
        at = {now: sequencer.timestamp_at(now) for now in (1.0, 1.019, 1.02, 1.05, 2.0)}
        self.assertEqual(at, {1.0: 1000, 1.019: 1000, 1.02: 1160, 1.05: 1320, 2.0: 9000})
        self.assertEqual(sequencer.timestamp, 1000)  # telling the time moves nothing

    def test_wraps(self) -> None:
        sequencer = RtpSequencer(0, 2**32 - 100)
        sequencer.tick(0.0, FRAME, TS_STEP)
        self.assertEqual(sequencer.timestamp_at(0.04), 220)

    def test_back_to_back_events_get_distinct_timestamps(self) -> None:
        """
        A stream held back (no ticks) while events play: each event starting
        later gets a later timestamp, and the next tick catches up to it.
        """
        wire = Wire(prebuffer_ms=0)
        wire.stream.push(pcm_frames(1))
        wire.tick()
        last = wire.now
        first, second = (wire.stream.timestamp_at(last + t) for t in (0.0, 0.26))
        self.assertEqual((second - first) % 2**32, 13 * TS_STEP)
        wire.stream.push(pcm_frames(1))
        wire.stream.tick(last + 0.28)
        self.assertEqual(wire.packets[-1].timestamp, (first + 14 * TS_STEP) % 2**32)

    def test_anchor_before_the_first_tick(self) -> None:
        """
        Anchored when the stream starts, the timeline counts from there before
        any tick, and the first tick moves on only by the whole frames since.
        """
        wire = Wire(prebuffer_ms=0)
        start = 2**32 - 400
        wire.stream.anchor(1.0)
        self.assertEqual(wire.stream.timestamp_at(1.1), (start + 5 * TS_STEP) % 2**32)
        wire.stream.push(pcm_frames(2))
        wire.stream.tick(1.009)
        wire.stream.tick(1.029)
        self.assertEqual([p.timestamp for p in wire.packets], [start, start + TS_STEP])

    def test_anchor_never_rewinds(self) -> None:
        """Once ticked (or anchored), a later anchor is ignored: a new stream cannot rewind."""
        sequencer = RtpSequencer(0, 0)
        sequencer.tick(1.0, FRAME, TS_STEP)
        sequencer.anchor(3.0, FRAME, TS_STEP)
        self.assertEqual(sequencer.timestamp_at(3.0), 100 * TS_STEP)
        anchored = RtpSequencer(0, 0)
        anchored.anchor(1.0, FRAME, TS_STEP)
        anchored.anchor(2.0, FRAME, TS_STEP)
        self.assertEqual(anchored.tick(2.0, FRAME, TS_STEP), 50 * TS_STEP)
