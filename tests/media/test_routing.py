"""Symmetric RTP latching and where RTP/RTCP go."""

from __future__ import annotations

import struct

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.media import MediaConfig
from roomkit_sip.media.routing import MediaRouting
from tests.media._helpers import PEER, PEER_RTCP, Harness, rtp, ulaw_tone_frames
from tests.support.audio import tone

NAT = ("127.0.0.9", 61000)
INTRUDER = ("127.0.0.66", 5000)
RR = struct.pack("!BBHI", 0x80, 201, 1, 0x5EED1234)


class SymmetricTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(config=MediaConfig(symmetric_rtp=True))
        self.frames = ulaw_tone_frames(10)

    def talk(self) -> list:
        self.h.session.send_audio(tone(400, 0.1))
        self.h.session.end_of_response()
        self.h.advance(0.12)
        return self.h.sent()

    def test_latches_on_first_packet_and_sends_there(self) -> None:
        self.h.deliver(rtp(0, 0, self.frames[0]), source=NAT)
        self.assertEqual(self.h.session.remote_rtp, NAT)
        self.assertEqual({addr for _, addr in self.talk()}, {NAT})

    def test_drops_other_sources_once_latched(self) -> None:
        self.h.deliver(rtp(0, 0, self.frames[0]), source=NAT)
        self.h.deliver(rtp(1, 160, self.frames[1]), source=INTRUDER)
        self.h.deliver(rtp(2, 320, self.frames[2]), source=NAT)
        self.h.reactor.advance(0.1)
        stats = self.h.stats()
        self.assertEqual((stats["dropped_source"], stats["concealed"]), (1, 1))
        self.assertEqual(len(self.h.rec.audio), 3)
        self.assertEqual(self.h.session.remote_rtp, NAT)

    def test_unknown_payload_type_does_not_latch(self) -> None:
        self.h.deliver(rtp(0, 0, b"\x00", pt=99), source=INTRUDER)
        self.assertEqual(self.h.session.remote_rtp, PEER)
        self.h.deliver(rtp(1, 160, self.frames[1]), source=NAT)
        self.assertEqual(self.h.session.remote_rtp, NAT)

    def test_before_any_packet_sends_to_sdp_address(self) -> None:
        self.assertEqual({addr for _, addr in self.talk()}, {PEER})

    def test_reinvite_releases_the_latch(self) -> None:
        self.h.deliver(rtp(0, 0, self.frames[0]), source=NAT)
        self.assertEqual(self.h.session.update_remote(("127.0.0.5", 7000)), "ok")
        self.assertEqual(self.h.session.remote_rtp, ("127.0.0.5", 7000))
        self.h.deliver(rtp(1, 160, self.frames[1]), source=INTRUDER)
        self.assertEqual(self.h.session.remote_rtp, INTRUDER)

    def test_refused_sdp_address_but_latched_source_serves(self) -> None:
        h = Harness(config=MediaConfig(symmetric_rtp=True), remote_rtp=("10.0.0.1", 0))
        self.assertIsNone(h.session.remote_rtp)
        h.deliver(rtp(0, 0, self.frames[0]), source=NAT)
        self.assertEqual(h.session.remote_rtp, NAT)

    def test_hold_beats_the_latch(self) -> None:
        self.h.deliver(rtp(0, 0, self.frames[0]), source=NAT)
        self.h.session.update_remote(("0.0.0.0", 4000))
        self.h.deliver(rtp(1, 160, self.frames[1]), source=NAT)
        self.assertEqual(self.talk(), [])

    def test_rtcp_follows_the_latch(self) -> None:
        self.h.deliver(rtp(0, 0, self.frames[0]), source=NAT)
        self.h.advance(2.1)
        ((_, addr),) = self.h.rtcp_port.take_written()
        self.assertEqual(addr, (NAT[0], NAT[1] + 1))
        self.h.rtcp_port.deliver(RR, (NAT[0], 62000))
        self.h.advance(4.1)
        ((_, addr),) = self.h.rtcp_port.take_written()
        self.assertEqual(addr, (NAT[0], 62000))


class RoutingUnitTests(SynchronousTestCase):
    def test_explicit_rtcp_address(self) -> None:
        routing = MediaRouting(symmetric=False)
        self.assertEqual(routing.set_remote(PEER, ("127.0.0.1", 50000)), "ok")
        self.assertEqual((routing.rtp_dest, routing.rtcp_dest), (PEER, ("127.0.0.1", 50000)))

    def test_default_rtcp_is_rtp_plus_one(self) -> None:
        routing = MediaRouting(symmetric=False)
        routing.set_remote(PEER)
        self.assertEqual(routing.rtcp_dest, PEER_RTCP)

    def test_not_symmetric_accepts_everyone(self) -> None:
        routing = MediaRouting(symmetric=False)
        routing.set_remote(PEER)
        self.assertTrue(routing.accept(INTRUDER, 0, lambda pt: True))
        self.assertTrue(routing.accept(PEER, 0, lambda pt: True))
        self.assertEqual((routing.foreign_source, routing.rtp_dest), (1, PEER))

    def test_rtcp_mux_peer_hears_rtcp_on_its_rtp_port(self) -> None:
        h = Harness()
        h.deliver(RR)  # RTCP arriving on our RTP port: the peer multiplexes (RFC 5761)
        h.advance(2.1)
        self.assertEqual(h.rtcp_port.take_written(), [])
        sent = h.rtp_port.take_written()
        self.assertEqual([(d[1], addr) for d, addr in sent], [(201, PEER)])
