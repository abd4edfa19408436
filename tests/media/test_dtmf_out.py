"""RFC 4733 events sent by a MediaSession: layout, timing, sequence numbers shared with audio."""

from __future__ import annotations

import struct

from twisted.trial.unittest import SynchronousTestCase

from tests.media._helpers import Harness
from tests.support.audio import tone


def decode_event(payload: bytes) -> tuple[int, bool, int, int]:
    code, flags, duration = struct.unpack("!BBH", payload)
    return code, bool(flags & 0x80), flags & 0x3F, duration


class SendTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(dtmf_payload_type=101)
        self.s = self.h.session
        self.times: list[tuple[float, object]] = []

    def collect(self, seconds: float) -> list:
        out = []
        for _ in range(round(seconds / 0.01)):
            self.h.reactor.advance(0.01)
            for p, _ in self.h.sent():
                out.append((round(self.h.reactor.seconds() - 1000, 3), p))
        return out

    def test_event_layout_on_the_wire(self) -> None:
        self.s.send_audio(tone(700, 0.1))
        self.s.end_of_response()
        self.h.advance(0.04)
        audio_before = [p for p, _ in self.h.sent()]
        self.s.send_audio(tone(700, 0.1))  # queued behind the event
        start = self.h.reactor.seconds()
        done = self.s.send_dtmf("7", 160)
        rows = [(0.0, p) for p, _ in self.h.sent()]  # the start packet goes at once
        rows += [(t - round(start - 1000, 3), p) for t, p in self.collect(0.5)]
        events = [(t, p) for t, p in rows if p.payload_type == 101]
        audio_after = [p for _, p in rows if p.payload_type == 0]
        self.assertIs(self.successResultOf(done), True)
        # Start with the marker, 50 ms updates, the end three times (§2.5.1.4).
        fields = [decode_event(p.payload) for _, p in events]
        self.assertEqual(
            fields,
            [
                (7, False, 10, 0),
                (7, False, 10, 400),
                (7, False, 10, 800),
                (7, False, 10, 1200),
                (7, True, 10, 1280),
                (7, True, 10, 1280),
                (7, True, 10, 1280),
            ],
        )
        self.assertEqual([p.marker for _, p in events], [True] + [False] * 6)
        for (t, _), expected in zip(events, (0.0, 0.05, 0.1, 0.15, 0.16, 0.21, 0.26), strict=True):
            self.assertLessEqual(abs(t - expected), 0.011)
        # One timestamp for the event: where the audio before it ended.
        self.assertEqual(
            {p.timestamp for _, p in events}, {(audio_before[-1].timestamp + 160) % 2**32}
        )
        # Sequence numbers run on, audio - events - audio, without a gap.
        seqs = (
            [p.seq for p in audio_before]
            + [p.seq for _, p in events]
            + [p.seq for p in audio_after]
        )
        self.assertEqual([(b - a) % 65536 for a, b in zip(seqs, seqs[1:])], [1] * (len(seqs) - 1))
        # Audio held back during the event, then a new talk spurt past its end.
        first_after = [(t, p) for t, p in rows if p.payload_type == 0][0]
        self.assertGreaterEqual(first_after[0], 0.26)
        self.assertTrue(first_after[1].marker)
        event_ts = events[0][1].timestamp
        self.assertGreater((first_after[1].timestamp - event_ts) % 2**32, 1280)
        self.assertEqual(len(audio_after), 8)  # nothing queued was lost
        self.assertEqual(self.h.stats()["dtmf_out"], 1)

    def test_digits_queue_one_after_another(self) -> None:
        d1 = self.s.send_dtmf("1", 100)
        d2 = self.s.send_dtmf("#", 100)
        rows = [p for p, _ in self.h.sent()] + [p for _, p in self.collect(1.0)]
        self.assertTrue(self.successResultOf(d1) and self.successResultOf(d2))
        codes = [decode_event(p.payload)[0] for p in rows]
        self.assertEqual(codes, [1] * 5 + [11] * 5)
        first, second = rows[0].timestamp, rows[5].timestamp
        self.assertEqual({p.timestamp for p in rows}, {first, second})
        # The second press starts after the first ended (100 ms + two repeats).
        self.assertGreaterEqual((second - first) % 2**32, 1600)
        self.assertEqual([p.marker for p in rows].count(True), 2)

    def test_no_telephone_event_negotiated(self) -> None:
        h = Harness()
        self.assertIs(self.successResultOf(h.session.send_dtmf("5")), False)
        h.advance(0.5)
        self.assertEqual(h.sent(), [])
        self.assertRaises(ValueError, h.session.send_dtmf, "X")

    def test_bad_digit_or_duration(self) -> None:
        self.assertRaises(ValueError, self.s.send_dtmf, "E")
        self.assertRaises(ValueError, self.s.send_dtmf, "1", 0)

    def test_close_during_event(self) -> None:
        done = self.s.send_dtmf("9", 2000)
        queued = self.s.send_dtmf("8")
        self.h.reactor.advance(0.3)
        self.successResultOf(self.s.close())
        self.assertIs(self.successResultOf(done), False)
        self.assertIs(self.successResultOf(queued), False)
        self.assertEqual(self.h.reactor.getDelayedCalls(), [])

    def test_long_event_in_segments(self) -> None:
        """An event over 0xFFFF units (8.2 s at 8 kHz) is split (§2.5.1.3), still one press."""
        receiver = Harness(dtmf_payload_type=101)
        done = self.s.send_dtmf("3", 9000)
        for _ in range(1000):
            self.h.reactor.advance(0.01)
            for data, _ in self.h.rtp_port.take_written():
                receiver.deliver(data)
        self.assertIs(self.successResultOf(done), True)
        self.assertEqual(len(receiver.rec.digits), 1)
        self.assertLessEqual(abs(receiver.rec.digits[0][1] - 9000), 1)


class CodecChangeTests(SynchronousTestCase):
    def test_codec_change_during_an_event(self) -> None:
        """
        A re-INVITE switches to G.722 while a key press is being sent: the
        first G.722 packet still comes after the event, on the timeline of
        real time, as a new talk spurt.
        """
        from roomkit_sip.codecs.g722 import G722

        h = Harness(dtmf_payload_type=101)
        h.session.send_audio(tone(700, 0.1))
        h.advance(0.04)
        h.sent()
        done = h.session.send_dtmf("4", 160)
        h.reactor.advance(0.05)
        h.session.set_codec(G722, 9, dtmf_payload_type=101, dtmf_clock_rate=8000)
        h.session.send_audio(tone(700, 0.1, rate=16000))
        h.advance(0.5)
        self.assertIs(self.successResultOf(done), True)
        rows = [p for p, _ in h.sent()]
        events = [p for p in rows if p.payload_type == 101]
        audio = [p for p in rows if p.payload_type == 9]
        self.assertTrue(audio[0].marker)
        start = events[0].timestamp
        self.assertGreater((audio[0].timestamp - start) % 2**32, 1280)  # past the event's end
        elapsed = (audio[0].timestamp - start) % 2**32
        self.assertLessEqual(abs(elapsed - 0.28 * 8000), 160)
        steps = {(b.timestamp - a.timestamp) % 2**32 for a, b in zip(audio, audio[1:])}
        self.assertEqual(steps, {160})
