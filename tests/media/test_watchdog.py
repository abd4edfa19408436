"""RTP inactivity and establishment watchdogs: reported once, paused on hold."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.media import MEDIA_LOST, MEDIA_NOT_ESTABLISHED, MediaConfig
from tests.media._helpers import Harness, rtp

CONFIG = MediaConfig(rtp_inactivity_timeout=30.0, rtp_establishment_timeout=60.0)


class WatchdogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(config=CONFIG)
        self.seq = 0

    def packet(self) -> None:
        self.h.deliver(rtp(self.seq, 160 * self.seq, b"\xff" * 160))
        self.seq += 1

    def test_never_established(self) -> None:
        self.h.reactor.advance(59.9)
        self.assertEqual(self.h.rec.timeouts, [])
        self.h.reactor.advance(0.2)
        self.assertEqual(self.h.rec.timeouts, [MEDIA_NOT_ESTABLISHED])
        self.h.reactor.advance(300)
        self.assertEqual(self.h.rec.timeouts, [MEDIA_NOT_ESTABLISHED])
        self.assertEqual(self.h.stats()["media_timeout"], MEDIA_NOT_ESTABLISHED)

    def test_media_lost_once(self) -> None:
        for _ in range(50):
            self.packet()
            self.h.reactor.advance(0.02)
        last = self.h.reactor.seconds() - 0.02
        self.h.reactor.advance(last + 29.9 - self.h.reactor.seconds())
        self.assertEqual(self.h.rec.timeouts, [])
        self.h.reactor.advance(0.2)
        self.assertEqual(self.h.rec.timeouts, [MEDIA_LOST])
        self.packet()  # too late: reported once, not re-armed
        self.h.reactor.advance(100)
        self.assertEqual(self.h.rec.timeouts, [MEDIA_LOST])

    def test_steady_packets_never_fire_and_timer_is_not_rearmed_per_packet(self) -> None:
        self.packet()
        calls = len(self.h.reactor.getDelayedCalls())
        for _ in range(120):  # two minutes, one packet a second
            self.h.reactor.advance(1.0)
            self.packet()
            self.assertLessEqual(len(self.h.reactor.getDelayedCalls()), calls)
        self.assertEqual(self.h.rec.timeouts, [])

    def test_hold_pauses_then_resume_restarts_the_period(self) -> None:
        self.packet()
        self.h.session.set_direction(send=True, recv=False)
        self.h.reactor.advance(600)
        self.assertEqual(self.h.rec.timeouts, [])
        self.h.session.set_direction(send=True, recv=True)
        self.h.reactor.advance(29.5)
        self.assertEqual(self.h.rec.timeouts, [])
        self.h.reactor.advance(1.0)
        self.assertEqual(self.h.rec.timeouts, [MEDIA_LOST])

    def test_hold_before_establishment(self) -> None:
        self.h.session.set_direction(send=False, recv=False)
        self.h.reactor.advance(600)
        self.h.session.set_direction(send=True, recv=True)
        self.h.reactor.advance(59)
        self.assertEqual(self.h.rec.timeouts, [])
        self.h.reactor.advance(2)
        self.assertEqual(self.h.rec.timeouts, [MEDIA_NOT_ESTABLISHED])

    def test_zero_disables(self) -> None:
        h = Harness(config=MediaConfig(rtp_inactivity_timeout=0, rtp_establishment_timeout=0))
        h.reactor.advance(1000)
        h.deliver(rtp(0, 0, b"\xff"))
        h.reactor.advance(1000)
        self.assertEqual(h.rec.timeouts, [])

    def test_invalid_datagrams_are_not_activity(self) -> None:
        self.packet()
        for _ in range(40):
            self.h.reactor.advance(1.0)
            self.h.deliver(b"\x00garbage")
        self.assertEqual(self.h.rec.timeouts, [MEDIA_LOST])

    def test_starts_paused_when_not_receiving(self) -> None:
        h = Harness(config=CONFIG, recv=False)
        h.reactor.advance(120)
        self.assertEqual(h.rec.timeouts, [])
