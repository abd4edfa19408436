"""The receive path of a MediaSession, packet by packet, on a MemoryUDPReactor."""

from __future__ import annotations

import struct

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs.g722 import G722
from roomkit_sip.media import MediaConfig
from tests.media._helpers import PEER, Harness, event, rtp, ulaw_tone_frames
from tests.support.audio import rms_dbfs, tone, ulaw_decode


class InboundTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(dtmf_payload_type=101)
        self.frames = ulaw_tone_frames(20)

    def send(self, seq: int, index: int | None = None, **kw) -> None:
        payload = self.frames[seq % 20 if index is None else index]
        self.h.deliver(rtp(seq, 160 * seq, payload, **kw))

    def test_in_order_decoded_at_once(self) -> None:
        for seq in range(5):
            self.send(seq)
        self.assertEqual(self.h.rec.audio, [ulaw_decode(f) for f in self.frames[:5]])
        stats = self.h.stats()
        self.assertEqual((stats["packets_in"], stats["bytes_in"]), (5, 5 * 172))
        self.assertEqual((stats["lost"], stats["concealed"]), (0, 0))

    def test_invalid_datagrams_counted_and_dropped(self) -> None:
        bad = [
            b"\x80\x00\x00",  # truncated
            b"\x40" + rtp(1, 160)[1:],  # version 1
            b"\xa0" + rtp(1, 160, b"\x00\x00")[1:] + b"\x09",  # padding longer than payload
            b"",
        ]
        for data in bad:
            self.h.deliver(data)
        self.send(1)
        stats = self.h.stats()
        self.assertEqual((stats["dropped_invalid"], stats["packets_in"]), (4, 5))
        self.assertEqual(len(self.h.rec.audio), 1)

    def test_unknown_payload_type_dropped_without_a_hole(self) -> None:
        self.send(0)
        self.h.deliver(rtp(1, 160, b"\x00" * 20, pt=18))
        self.send(2)
        stats = self.h.stats()
        self.assertEqual((stats["dropped_unknown_pt"], stats["concealed"]), (1, 0))
        self.assertEqual(self.h.rec.audio, [ulaw_decode(self.frames[i]) for i in (0, 2)])

    def test_reordered(self) -> None:
        for seq in (0, 2, 1, 3):
            self.send(seq)
        self.assertEqual(self.h.rec.audio, [ulaw_decode(f) for f in self.frames[:4]])
        stats = self.h.stats()
        self.assertEqual((stats["reordered"], stats["concealed"], stats["lost"]), (1, 0, 0))

    def test_duplicate(self) -> None:
        for seq in (0, 1, 1, 2):
            self.send(seq)
        self.assertEqual(len(self.h.rec.audio), 3)
        self.assertEqual(self.h.stats()["duplicate"], 1)

    def test_hole_given_up_on_time_then_late(self) -> None:
        """A hole with nothing behind it is concealed by the session's timer after 60 ms."""
        self.send(0)
        self.send(2)
        self.assertEqual(len(self.h.rec.audio), 1)
        self.h.reactor.advance(0.059)
        self.assertEqual(len(self.h.rec.audio), 1)
        self.h.reactor.advance(0.002)
        self.assertEqual(len(self.h.rec.audio), 3)
        self.send(1)  # too late now
        stats = self.h.stats()
        self.assertEqual((stats["concealed"], stats["late"]), (1, 1))
        self.assertEqual(self.h.rec.audio[2], ulaw_decode(self.frames[2]))

    def test_plc_continues_the_last_frame(self) -> None:
        self.send(0)
        self.send(3)  # frames 1 and 2 lost
        self.h.reactor.advance(0.07)
        audio = self.h.rec.audio
        self.assertEqual(len(audio), 4)
        self.assertEqual(self.h.stats()["concealed"], 2)
        self.assertEqual([len(f) for f in audio], [320] * 4)
        # Concealment fades the last good frame out: audible, quieter than it.
        self.assertGreater(rms_dbfs(audio[1]), -40)
        self.assertLess(rms_dbfs(audio[2]), rms_dbfs(audio[1]))

    def test_without_plc_gaps_skipped_or_silent(self) -> None:
        for skip, expected in ((True, 2), (False, 3)):
            h = Harness(config=MediaConfig(plc=False, skip_audio_gaps=skip))
            h.deliver(rtp(0, 0, self.frames[0]))
            h.deliver(rtp(2, 320, self.frames[2]))
            h.reactor.advance(0.07)
            self.assertEqual(len(h.rec.audio), expected)
            if not skip:
                self.assertEqual(h.rec.audio[1], bytes(320))
                self.assertEqual(h.stats()["filled"], 1)
            self.assertEqual(h.stats()["concealed"], 0)

    def test_ssrc_change_starts_a_new_stream(self) -> None:
        for seq in (100, 101, 102):
            self.send(seq)
        # A new source with unrelated numbers plays at once, nothing concealed.
        for seq in (7000, 7001):
            self.h.deliver(rtp(seq, 5, self.frames[seq % 20], ssrc=0xABC))
        self.assertEqual(len(self.h.rec.audio), 5)
        stats = self.h.stats()
        self.assertEqual((stats["ssrc_changes"], stats["concealed"]), (1, 0))
        # A straggler of the old source is late, not a switch back.
        self.send(99)
        self.assertEqual(self.h.stats()["ssrc_changes"], 1)
        self.assertEqual(len(self.h.rec.audio), 5)

    def test_fresh_decoder_per_stream(self) -> None:
        """G.722 is ADPCM: a new SSRC is decoded from a fresh decoder state."""
        h = Harness(G722, 9)
        pcm = tone(440, 0.1, rate=16000, peak_dbfs=-10)
        first = G722.new_encoder().encode(pcm)
        second = G722.new_encoder().encode(pcm[::-1])
        for i in range(5):
            h.deliver(rtp(i, 160 * i, first[160 * i : 160 * (i + 1)], pt=9))
        for i in range(5):
            h.deliver(rtp(900 + i, 160 * i, second[160 * i : 160 * (i + 1)], pt=9, ssrc=7))
        expected = G722.new_decoder().decode(second)
        self.assertEqual(b"".join(h.rec.audio[5:]), expected)
        self.assertEqual([len(f) for f in h.rec.audio], [640] * 10)  # 20 ms at 16 kHz

    def test_dtmf_once_per_key_press(self) -> None:
        for seq in range(3):
            self.send(seq)
        start = 160 * 3
        packets = [event(5, False, d) for d in (0, 400, 800)] + [event(5, True, 1280)] * 3
        for i, payload in enumerate(packets, 3):
            self.h.deliver(rtp(i, start, payload, pt=101, marker=i == 3))
        after = 3 + len(packets)
        for seq in range(after, after + 3):
            self.send(seq)
        self.assertEqual(self.h.rec.digits, [("5", 160.0)])
        stats = self.h.stats()
        self.assertEqual((stats["dtmf_in"], stats["concealed"], stats["lost"]), (1, 0, 0))

    def test_dtmf_with_every_end_packet_lost(self) -> None:
        self.h.deliver(rtp(0, 0, event(11, False, 0), pt=101, marker=True))
        self.h.deliver(rtp(1, 0, event(11, False, 400), pt=101))
        self.h.reactor.advance(0.45)
        self.assertEqual(self.h.rec.digits, [])
        self.h.reactor.advance(0.1)
        self.assertEqual(self.h.rec.digits, [("#", 50.0)])

    def test_comfort_noise_is_not_a_hole(self) -> None:
        h = Harness(config=MediaConfig(comfort_noise=True))
        h.deliver(rtp(0, 0, self.frames[0]))
        h.deliver(rtp(1, 160, b"\x40", pt=13))
        h.deliver(rtp(2, 800, self.frames[2], marker=True))
        stats = h.stats()
        self.assertEqual((stats["comfort_noise_in"], stats["concealed"]), (1, 0))
        self.assertEqual(len(h.rec.audio), 2)

    def test_not_receiving_drops(self) -> None:
        self.h.session.set_direction(send=True, recv=False)
        self.send(0)
        self.assertEqual((self.h.rec.audio, self.h.stats()["dropped_direction"]), ([], 1))

    def test_rtcp_on_the_rtp_port(self) -> None:
        """RFC 5761: an RR multiplexed on the RTP port is RTCP, not an invalid packet."""
        rr = struct.pack("!BBHI", 0x80, 201, 1, 0x1234)
        self.h.deliver(rr)
        stats = self.h.stats()
        self.assertEqual(
            (stats["rtcp_mux"], stats["rtcp_received"], stats["dropped_invalid"]), (1, 1, 0)
        )

    def test_failing_owner_callback(self) -> None:
        calls = []

        def broken(pcm: bytes) -> None:
            calls.append(pcm)
            raise RuntimeError("app bug")

        self.h.session._inbound._on_audio = broken
        self.send(0)
        self.send(1)
        self.assertEqual(len(calls), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_foreign_source_counted(self) -> None:
        self.send(0)
        self.h.deliver(rtp(1, 160, self.frames[1]), source=("127.0.0.2", 5000))
        stats = self.h.stats()
        self.assertEqual((stats["foreign_source"], stats["dropped_source"]), (1, 0))
        self.assertEqual(len(self.h.rec.audio), 2)
        self.assertEqual(self.h.session.remote_rtp, PEER)
