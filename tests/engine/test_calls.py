"""
Answered calls: media both ways, DTMF from RTP and INFO, hanging up from
either side with RFC 3326 reasons, the reapers (no ACK, RTP lost or never
there), in-dialog routing, and exactly one C{call_ended} per call.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import fail, succeed
from twisted.internet.error import DNSLookupError
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine import CallHandler, PlayedFrame
from roomkit_sip.sip import Request, StreamFramer, make_response, parse_message
from tests.engine._peer import (
    HOST,
    PEER_IP,
    PEER_RTP,
    RTP_START,
    Harness,
    Recorder,
    assert_released,
    fired,
    offer_sdp,
)
from tests.media._helpers import event, rtp, ulaw_tone_frames


def answered(h: Harness, **invite: Any) -> tuple[Any, Any]:
    c = h.caller()
    c.send_invite(**invite)
    ok = c.final()
    c.ack(ok)
    [call] = [call for call in h.engine.list_sessions() if call.call_id == c.call_id]
    return c, call


class MediaTests(SynchronousTestCase):
    def test_audio_both_ways(self) -> None:
        h = Harness()
        c, call = answered(h)
        port = h.rtp_port(RTP_START)
        for n, payload in enumerate(ulaw_tone_frames(10)):
            port.deliver(rtp(n, n * 160, payload), (PEER_IP, PEER_RTP))
            h.advance(0.02)
        h.advance(0.1)
        self.assertGreaterEqual(len(h.handler.audio), 9)
        self.assertEqual({len(pcm) for pcm in h.handler.audio}, {320})
        port.take_written()
        played: list[PlayedFrame] = []
        unsubscribe = call.on_played(lambda call, frame: played.append(frame))
        call.send_audio(b"\x10\x00" * 1600)
        call.end_of_response()
        done = call.wait_playback()
        self.assertTrue(call.is_playing)
        h.advance(0.5)
        self.assertIs(fired(done), True)
        sent = [d for d, addr in port.take_written() if addr == (PEER_IP, PEER_RTP)]
        self.assertEqual(len(sent), 10)
        self.assertEqual(sum(f.played_bytes for f in played), 3200)
        self.assertTrue(played[-1].ended)
        unsubscribe()
        self.assertTrue(call.send_audio_now(b"\x00\x00" * 160))
        self.assertEqual(len(port.take_written()), 1)
        self.assertEqual(len(played), 11)  # no report after unsubscribing
        stats = call.stats()
        self.assertGreaterEqual((stats["packets_in"], stats["packets_out"]), (10, 11))
        c.send(c.request("BYE", content_type=None))
        self.assertEqual(call.stats()["packets_in"], stats["packets_in"])  # kept after the end
        self.assertFalse(call.send_audio_now(b"\x00\x00" * 160))
        self.assertIs(fired(call.wait_playback()), False)
        assert_released(self, h)

    def test_rfc4733_digit_reported_once(self) -> None:
        h = Harness()
        c, call = answered(h)
        port = h.rtp_port(RTP_START)
        for n, (end, duration) in enumerate([(False, 160), (False, 320), (True, 640)] * 1):
            port.deliver(rtp(n, 8000, event(5, end, duration), pt=101), (PEER_IP, PEER_RTP))
        for n in range(3, 6):  # the end packet, retransmitted
            port.deliver(rtp(n, 8000, event(5, True, 640), pt=101), (PEER_IP, PEER_RTP))
        h.advance(0.1)
        self.assertEqual([(e.digit, e.duration_ms, e.source) for e in h.handler.dtmf],
                         [("5", 80.0, "rfc4733")])  # fmt: skip

    def test_send_dtmf_as_rfc4733(self) -> None:
        h = Harness()
        c, call = answered(h)
        port = h.rtp_port(RTP_START)
        port.take_written()
        sent = call.send_dtmf("7", 100)
        h.advance(0.3)
        self.assertIs(fired(sent), True)
        packets = [d for d, addr in port.take_written() if addr == (PEER_IP, PEER_RTP)]
        self.assertTrue(packets and all(d[1] & 0x7F == 101 for d in packets))
        self.assertRaises(ValueError, call.send_dtmf, "X")

    def test_send_dtmf_by_info_without_telephone_event(self) -> None:
        h = Harness()
        c, call = answered(h, body=offer_sdp(formats="0"))
        sent = call.send_dtmf("#", 120)
        [info] = c.requests("INFO")
        self.assertEqual(info.content_type, "application/dtmf-relay")
        self.assertEqual(info.body, b"Signal=#\r\nDuration=120\r\n")
        self.assertEqual(info.headers.get("To").split("tag=")[1], c.from_tag)
        c.answer(info)
        self.assertIs(fired(sent), True)


class InfoTests(SynchronousTestCase):
    def info(self, c: Any, body: bytes, kind: str | None) -> int:
        c.send(c.request("INFO", body=body, content_type=kind))
        return c.statuses("INFO")[-1]

    def test_dtmf_bodies(self) -> None:
        h = Harness()
        c, call = answered(h)
        self.assertEqual(
            self.info(c, b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay"), 200
        )
        self.assertEqual(self.info(c, b"11", "application/dtmf"), 200)
        self.assertEqual(self.info(c, b"", None), 200)  # a keep-alive
        self.assertEqual(self.info(c, b"hello", "text/plain"), 415)
        self.assertEqual(self.info(c, b"Signal=Q", "application/dtmf-relay"), 400)
        self.assertEqual(
            [(e.digit, e.duration_ms, e.source) for e in h.handler.dtmf],
            [("5", 160.0, "info"), ("#", 0.0, "info")],
        )
        self.assertEqual(h.engine.stats()["dtmf_events"], 2)

    def test_info_outside_any_dialog_481(self) -> None:
        h = Harness()
        c = h.caller()
        c.send(c.request("INFO", body=b"5", content_type="application/dtmf"))
        self.assertEqual(c.statuses("INFO"), [481])


class HangupTests(SynchronousTestCase):
    def test_remote_bye_with_reason(self) -> None:
        h = Harness()
        c, call = answered(h)
        reason = 'Q.850;cause=17;text="User busy", SIP;cause=486'
        c.send(c.request("BYE", content_type=None, headers=[("Reason", reason)]))
        self.assertEqual(c.statuses("BYE"), [200])
        self.assertEqual(call.metadata["bye_reason"], {"cause": 17, "text": "User busy"})
        self.assertEqual(call.metadata["disconnect_reason"], "remote_bye")
        self.assertEqual((call.state, h.handler.ended), ("ended", [call]))
        self.assertIsNone(h.engine.get_session(call.session_id))
        assert_released(self, h)

    def test_bye_with_a_sip_reason_only(self) -> None:
        h = Harness()
        c, call = answered(h)
        c.send(c.request("BYE", content_type=None, headers=[("Reason", "SIP;cause=200")]))
        self.assertEqual(call.metadata["bye_reason"], {"cause": 200, "text": ""})

    def test_local_hangup_with_reason(self) -> None:
        h = Harness()
        c, call = answered(h)
        done = call.hangup(cause=16, text="Normal call clearing")
        [bye] = c.requests("BYE")
        self.assertEqual(bye.headers.get("Reason"), 'Q.850;cause=16;text="Normal call clearing"')
        self.assertEqual(bye.uri, f"sip:alice@{PEER_IP}:5062")  # the remote target
        self.assertEqual(bye.headers.get("To").split("tag=")[1], c.from_tag)
        self.assertIsNone(fired(done))
        self.assertEqual(call.metadata["disconnect_reason"], "local_hangup")
        self.assertEqual(h.handler.ended, [call])
        c.answer(bye)
        self.assertIsNone(fired(call.hangup()))  # again: nothing more
        self.assertEqual(len(c.requests("BYE")), 1)
        self.assertEqual(h.handler.ended, [call])
        assert_released(self, h)

    def test_bye_through_the_route_set(self) -> None:
        """
        §12.2.1.1: the BYE goes to the first (loose) route, named by host
        name and resolved first, with the remote target as Request-URI.
        """
        h = Harness()
        h.reactor.resolve = lambda name, timeout=10: succeed(  # type: ignore[method-assign]
            {"proxy.example.net": "203.0.113.5"}[name]
        )
        route = "<sip:proxy.example.net:5070;lr>"
        c, call = answered(h, headers=[("Record-Route", route)])
        call.hangup()
        [bye] = [m for m in h.inbox(("203.0.113.5", 5070)) if isinstance(m, Request)]
        self.assertEqual(bye.method, "BYE")
        self.assertEqual(bye.uri, f"sip:alice@{PEER_IP}:5062")
        self.assertEqual(bye.headers.get_all("Route"), [route])
        self.assertEqual(call.state, "ended")

    def test_unresolvable_route_still_frees_the_call(self) -> None:
        h = Harness()
        h.reactor.resolve = lambda name, timeout=10: fail(  # type: ignore[method-assign]
            DNSLookupError(name)
        )
        c, call = answered(h, headers=[("Record-Route", "<sip:nowhere.invalid;lr>")])
        call.hangup()
        self.assertEqual((call.state, h.handler.ended), ("ended", [call]))
        assert_released(self, h)

    def test_unanswered_bye_still_frees_the_call(self) -> None:
        h = Harness(t1=0.1)
        c, call = answered(h)
        call.hangup()
        self.assertEqual(call.state, "ended")
        h.advance(64 * 0.1 + 1)
        self.assertGreater(len(c.requests("BYE", copies=True)), 1)  # never answered
        assert_released(self, h)

    def test_bye_answered_481_frees_the_call(self) -> None:
        h = Harness()
        c, call = answered(h)
        call.hangup()
        [bye] = c.requests("BYE")
        c.answer(bye, 481)
        self.assertEqual(h.handler.ended, [call])
        assert_released(self, h)

    def test_request_for_an_unknown_dialog_481(self) -> None:
        h = Harness()
        c, call = answered(h)
        stranger = h.caller(call_id=c.call_id)
        stranger.to_tag = "not-ours"
        stranger.send(stranger.request("BYE", content_type=None))
        self.assertEqual(stranger.statuses("BYE"), [481])
        self.assertEqual(call.state, "active")

    def test_out_of_order_cseq_500(self) -> None:
        h = Harness()
        c, call = answered(h)
        c.send(c.request("INFO", body=b"1", content_type="application/dtmf", cseq=1))
        self.assertEqual(c.statuses("INFO"), [500])

    def test_options_in_dialog(self) -> None:
        h = Harness()
        c, call = answered(h)
        c.send(c.request("OPTIONS", content_type=None))
        [ok] = c.responses("OPTIONS")
        self.assertEqual(ok.status, 200)
        self.assertIn("UPDATE", ok.headers.get_all("Allow"))


class ReaperTests(SynchronousTestCase):
    def test_no_ack_bye_after_64_t1(self) -> None:
        h = Harness(t1=0.1, t2=0.4)
        c = h.caller()
        c.send_invite()
        [call] = h.engine.list_sessions()
        h.advance(6.3)
        self.assertEqual(c.requests("BYE"), [])
        self.assertGreater(len([r for r in c.responses() if r.status == 200]), 5)
        h.advance(0.2)
        [bye] = c.requests("BYE")
        self.assertEqual(bye.headers.get("Reason"), 'Q.850;cause=102;text="ACK timeout"')
        self.assertEqual(call.metadata["disconnect_reason"], "ack_timeout")
        self.assertEqual(h.handler.ended, [call])
        c.answer(bye)
        assert_released(self, h)

    def test_media_lost(self) -> None:
        h = Harness(rtp_inactivity_timeout=2.0)
        c, call = answered(h)
        port = h.rtp_port(RTP_START)
        for n in range(5):
            port.deliver(rtp(n, n * 160, b"\xff" * 160), (PEER_IP, PEER_RTP))
            h.advance(0.02)
        h.advance(1.9)
        self.assertEqual(c.requests("BYE"), [])
        h.advance(0.2)
        [bye] = c.requests("BYE")
        self.assertIn("RTP timeout", bye.headers.get("Reason"))
        self.assertEqual(call.metadata["disconnect_reason"], "media_lost")
        c.answer(bye)
        assert_released(self, h)

    def test_media_never_established(self) -> None:
        h = Harness(rtp_establishment_timeout=3.0)
        c, call = answered(h)
        h.advance(3.1)
        [bye] = c.requests("BYE")
        self.assertEqual(call.metadata["disconnect_reason"], "media_not_established")
        self.assertEqual(h.handler.ended, [call])
        c.answer(bye)
        assert_released(self, h)


class IsolationTests(SynchronousTestCase):
    def test_failing_handler_disturbs_no_other_call(self) -> None:
        class Fragile(Recorder):
            def call_answered(self, call: Any) -> None:
                super().call_answered(call)
                if call.metadata["x_headers"]:
                    raise RuntimeError("answered")

            def call_ended(self, call: Any) -> None:
                super().call_ended(call)
                raise RuntimeError("ended")

        h = Harness(Fragile())
        bad, _ = answered(h, headers=[("X-Bad", "1")])
        good, _ = answered(h)
        for c in (bad, good):
            c.send(c.request("BYE", content_type=None))
            self.assertEqual(c.statuses("BYE"), [200])
        self.assertEqual(len(h.handler.ended), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 3)
        assert_released(self, h)

    def test_handler_replaced_while_running(self) -> None:
        h = Harness(CallHandler())
        c, call = answered(h)
        recorder = Recorder()
        h.engine.handler = recorder
        c.send(c.request("BYE", content_type=None))
        self.assertEqual(recorder.ended, [call])

    def test_exactly_one_call_ended_whatever_comes_last(self) -> None:
        """A BYE crossing our hangup, a second BYE, a late ACK: one call_ended."""
        h = Harness()
        c, call = answered(h)
        call.hangup()
        c.send(c.request("BYE", content_type=None))
        c.send(c.request("BYE", content_type=None))
        self.assertEqual(h.handler.ended, [call])
        self.assertEqual(c.statuses("BYE"), [481, 481])
        self.assertEqual(call.metadata["disconnect_reason"], "local_hangup")


class MetadataTests(SynchronousTestCase):
    def test_identity_and_metadata(self) -> None:
        h = Harness()
        headers = [("X-Room-ID", "room-9"), ("X-Session-ID", "caller-7"), ("X-Lang", "fr")]
        c, call = answered(h, headers=headers)
        self.assertEqual(
            (call.session_id, call.room_id, call.participant_id, call.call_id),
            ("caller-7", "room-9", "caller-7", c.call_id),
        )
        self.assertEqual(call.direction, "inbound")
        self.assertEqual(
            call.metadata,
            {
                "backend": "sip",
                "call_id": c.call_id,
                "caller": f"sip:alice@{PEER_IP}:5062",
                "callee": f"sip:bot@{HOST}",
                "caller_display_name": "Alice",
                "caller_user": "alice",
                "room_id": "room-9",
                "session_id": "caller-7",
                "x_headers": {"X-Room-ID": "room-9", "X-Session-ID": "caller-7", "X-Lang": "fr"},
                "input_sample_rate": 8000,
                "output_sample_rate": 8000,
                "codec_sample_rate": 8000,
                "codec": "PCMU",
                "rtp_clock_rate": 8000,
                "direction": "inbound",
            },
        )
        self.assertIs(h.engine.get_session("caller-7"), call)
        self.assertEqual(h.engine.list_sessions("room-9"), [call])
        self.assertEqual(h.engine.list_sessions("elsewhere"), [])

    def test_without_x_headers(self) -> None:
        h = Harness()
        c, call = answered(h)
        self.assertEqual(
            (call.session_id, call.room_id, call.participant_id),
            (c.call_id, c.call_id, f"sip:alice@{PEER_IP}:5062"),
        )

    def test_g722_rates(self) -> None:
        h = Harness()
        c, call = answered(h, body=offer_sdp(formats="9 101"))
        self.assertEqual((call.sample_rate, call.clock_rate), (16000, 8000))
        self.assertEqual(call.metadata["input_sample_rate"], 16000)
        self.assertEqual(call.metadata["rtp_clock_rate"], 8000)


class TCPTests(SynchronousTestCase):
    """A caller over TCP: answers and our BYE go back over its connection."""

    def test_call_over_one_connection(self) -> None:
        h = Harness(transports=("udp", "tcp"))
        proto = h.services.transports._tcp.buildProtocol(None)
        wire = StringTransport(peerAddress=IPv4Address("TCP", PEER_IP, 40123))
        proto.makeConnection(wire)
        framer = StreamFramer()

        def received() -> list[Any]:
            messages = [parse_message(m) for m in framer.feed(wire.value())]
            wire.clear()
            return messages

        c = h.caller()
        invite = c.request("INVITE", body=offer_sdp())
        invite.headers.set("Via", f"SIP/2.0/TCP {PEER_IP}:5062;branch=z9hG4bK-tcp1")
        invite.headers.set("Contact", f"<sip:alice@{PEER_IP}:5062;transport=tcp>")
        c.invite = invite
        proto.dataReceived(bytes(invite))
        responses = received()
        self.assertEqual([r.status for r in responses], [100, 180, 200])
        ok = responses[-1]
        self.assertEqual(ok.headers.get("Contact"), f"<sip:{HOST}:5060;transport=tcp>")
        self.assertEqual(h.sip.take_written(), [])  # nothing over UDP
        c.to_tag = ok.to.tag
        ack = c.request("ACK", cseq=1, content_type=None)
        ack.headers.set("Via", f"SIP/2.0/TCP {PEER_IP}:5062;branch=z9hG4bK-tcp2")
        proto.dataReceived(bytes(ack))
        [call] = h.engine.list_sessions()
        call.hangup(16)
        [bye] = received()
        self.assertEqual((bye.method, bye.top_via.transport), ("BYE", "TCP"))
        self.assertEqual(h.reactor.tcpClients, [])  # the caller's connection was reused
        proto.dataReceived(bytes(make_response(bye, 200)))
        self.assertEqual(h.handler.ended, [call])
