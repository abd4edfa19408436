"""
L{roomkit_sip.sip.offer_answer}: answers to realistic offers, offers of our
own, answers to them, and the o= version across a dialog (RFC 3264).
"""

import pathlib
from dataclasses import dataclass

from hypothesis import given
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip.offer_answer import (
    LocalMedia,
    Negotiation,
    OfferAnswerError,
    answer_offer,
    create_offer,
    process_answer,
)
from roomkit_sip.sip.sdp import Direction, SDPParseError, SessionDescription, parse_sdp
from roomkit_sip.sip.sdp_session import OfferAnswerSession
from tests.sip.test_sdp import mutated

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "sdp"


@dataclass(frozen=True)
class Codec:
    """The attributes negotiation reads from an C{ICodec} provider."""

    encoding_name: str
    payload_type: int
    clock_rate: int = 8000
    channels: int = 1
    fmtp: str | None = None


G722, PCMU, PCMA = Codec("G722", 9), Codec("PCMU", 0), Codec("PCMA", 8)
LOCAL = (G722, PCMU, PCMA)  # the product's default preference
ME = LocalMedia("192.0.2.5", 10000, warn_agent="sip.example.net")


def offer(name: str) -> SessionDescription:
    return parse_sdp((DATA / name).read_bytes())


def answer(sdp: SessionDescription, codecs=LOCAL, local: LocalMedia = ME, **kw):
    kw.setdefault("sess_id", 3900000000)
    kw.setdefault("sess_version", 3900000000)
    return answer_offer(sdp, codecs, local, **kw)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


HEAD = "v=0\no=- 3900000000 3900000000 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\n"


class AnswerTests(SynchronousTestCase):
    def test_asterisk(self) -> None:
        """Local preference (G.722) beats the offer's order (PCMU first); one
        codec plus the offer's telephone-event, its ptime, sendrecv."""
        sdp, result = answer(offer("asterisk.sdp"))
        self.assertEqual(
            bytes(sdp),
            crlf(
                HEAD + "m=audio 10000 RTP/AVP 9 101\n"
                "a=rtpmap:9 G722/8000\n"
                "a=rtpmap:101 telephone-event/8000\n"
                "a=fmtp:101 0-16\n"
                "a=ptime:20\n"
                "a=sendrecv\n"
            ),
        )
        self.assertEqual(
            result,
            Negotiation(
                codec=G722, payload_type=9, receive_payload_type=9, dtmf_payload_type=101,
                receive_dtmf_payload_type=101, dtmf_clock_rate=8000, ptime=20,
                direction=Direction.SENDRECV, remote_rtp=("203.0.113.10", 17602),
                remote_rtcp=("203.0.113.10", 17603), hold=False, media_index=0,
            ),
        )  # fmt: skip

    def test_local_order_wins_over_offer_order(self) -> None:
        """Cisco offers PCMA first; without G.722 our next choice is PCMU."""
        sdp, result = answer(offer("cisco-cube.sdp"))
        self.assertIs(result.codec, PCMU)
        self.assertEqual(sdp.media[0].formats, ("0", "101"))
        _, result = answer(offer("cisco-cube.sdp"), codecs=(PCMA, PCMU))
        self.assertIs(result.codec, PCMA)

    def test_static_payload_types_without_rtpmap(self) -> None:
        """Linphone lists 0 and 8 without rtpmap (RFC 3551 static types)."""
        sdp, result = answer(offer("linphone-ipv6-lf.sdp"))
        self.assertEqual((result.codec, result.payload_type), (PCMU, 0))
        self.assertIn("a=rtpmap:0 PCMU/8000\r\n", str(sdp))

    def test_dynamic_payload_type_from_offer(self) -> None:
        """A dynamic codec is answered with the offer's number, not ours
        (RFC 3264 §6.1), matched on name (any case), clock and channels."""
        opus = Codec("OPUS", 111, 48000, 2, fmtp="useinbandfec=1")
        sdp, result = answer(offer("freeswitch.sdp"), codecs=(opus, PCMU))
        self.assertEqual((result.codec, result.payload_type), (opus, 102))
        self.assertEqual(
            sdp.media[0].attributes[:2],
            parse_sdp(HEAD + "m=audio 1 RTP/AVP 102\na=rtpmap:102 OPUS/48000/2\n"
                      "a=fmtp:102 useinbandfec=1\n").media[0].attributes,
        )  # fmt: skip
        # telephone-event follows the codec's clock: 100 is /48000.
        self.assertEqual((result.dtmf_payload_type, result.dtmf_clock_rate), (100, 48000))
        mono = Codec("opus", 111, 48000, 1)
        _, result = answer(offer("freeswitch.sdp"), codecs=(mono, PCMU))
        self.assertIs(result.codec, PCMU)

    def test_g722_clock_is_8000(self) -> None:
        """RFC 3551 §4.5.2: G722/16000 is not the G.722 we speak."""
        text = HEAD + "m=audio 4000 RTP/AVP 9 0\na=rtpmap:9 G722/16000\n"
        _, result = answer(parse_sdp(text))
        self.assertIs(result.codec, PCMU)

    def test_comfort_noise_is_never_the_codec(self) -> None:
        cn = Codec("CN", 13)
        _, result = answer(offer("freeswitch.sdp"), codecs=(cn, PCMA))
        self.assertIs(result.codec, PCMA)

    def test_telephone_event_mirrored(self) -> None:
        """The offer's number (96, 100, 101, 127) and its events are answered."""
        cases = [
            ("asterisk.sdp", 101, "0-16"),
            ("grandstream-te96.sdp", 96, "0-15"),
            ("linphone-ipv6-lf.sdp", 100, "0-15"),  # no fmtp: 0-15 (RFC 4733 §2.4.1)
            ("polycom-vvx.sdp", 127, "0-15"),
            ("cisco-cube.sdp", 101, "0-15"),
            ("nat-rtcp.sdp", 101, "0-15"),  # 66 and 70 are not ours to receive
        ]
        for name, pt, events in cases:
            sdp, result = answer(offer(name))
            self.assertEqual(result.dtmf_payload_type, pt, name)
            self.assertEqual(result.receive_dtmf_payload_type, pt, name)
            self.assertEqual(sdp.media[0].fmtp(pt), events, name)
            self.assertEqual(sdp.media[0].formats[1:], (str(pt),), name)

    def test_no_telephone_event(self) -> None:
        """Without telephone-event in the offer (SIPp), none in the answer."""
        sdp, result = answer(offer("sipp-uac.sdp"))
        self.assertEqual(
            bytes(sdp),
            crlf(HEAD + "m=audio 10000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=ptime:20\na=sendrecv\n"),
        )
        self.assertEqual((result.dtmf_payload_type, result.dtmf_clock_rate), (None, None))

    def test_telephone_event_without_common_events_or_clock(self) -> None:
        base = HEAD + "m=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n"
        _, result = answer(parse_sdp(base + "a=fmtp:101 32-49\n"))
        self.assertIsNone(result.dtmf_payload_type)
        text = HEAD + "m=audio 4000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/48000\n"
        sdp, result = answer(parse_sdp(text))
        self.assertIsNone(result.dtmf_payload_type)
        self.assertEqual(sdp.media[0].formats, ("0",))
        for junk in ("0-" + "9" * 5000, "15-0,x,-3,²", "0-300"):
            _, result = answer(parse_sdp(base + f"a=fmtp:101 {junk}\n"))
            self.assertIsNone(result.dtmf_payload_type, junk)
        narrow = LocalMedia("192.0.2.5", 10000, dtmf_events="0-9")
        sdp, _ = answer(offer("asterisk.sdp"), local=narrow)
        self.assertEqual(sdp.media[0].fmtp(101), "0-9")

    def test_ptime(self) -> None:
        """The offer's ptime when we can send it, else ours (RFC 4566 §6)."""
        cases = [("cisco-cube.sdp", 30), ("grandstream-te96.sdp", 40), ("asterisk.sdp", 20)]
        for name, ptime in cases:
            sdp, result = answer(offer(name))
            self.assertEqual((result.ptime, sdp.media[0].ptime), (ptime, ptime), name)
        base = HEAD + "m=audio 4000 RTP/AVP 0\n"
        for extra, ptime in [
            ("", 20), ("a=ptime:60\n", 20), ("a=ptime:10\n", 20), ("a=maxptime:30\n", 20),
            ("a=ptime:40\na=maxptime:30\n", 20), ("a=maxptime:10\n", 20),
        ]:  # fmt: skip
            _, result = answer(parse_sdp(base + extra))
            self.assertEqual(result.ptime, ptime, extra)
        local30 = LocalMedia("192.0.2.5", 10000, ptime=30, ptimes=(20, 30))
        _, result = answer(parse_sdp(base + "a=maxptime:20\n"), local=local30)
        self.assertEqual(result.ptime, 20)

    def test_direction_mirrored(self) -> None:
        """RFC 3264 §6.1: sendonly→recvonly, recvonly→sendonly,
        inactive→inactive, sendrecv→sendrecv; the first two and inactive
        are holds only when the peer stops receiving."""
        base = HEAD + "m=audio 4000 RTP/AVP 0\n"
        cases = [
            ("sendrecv", Direction.SENDRECV, False),
            ("sendonly", Direction.RECVONLY, True),
            ("recvonly", Direction.SENDONLY, False),
            ("inactive", Direction.INACTIVE, True),
        ]
        for attribute, expected, hold in cases:
            sdp, result = answer(parse_sdp(base + f"a={attribute}\n"))
            self.assertEqual(result.direction, expected, attribute)
            self.assertEqual(result.hold, hold, attribute)
            self.assertEqual(sdp.media[0].attributes[-1].name, expected.value)

    def test_hold_fixtures(self) -> None:
        sdp, result = answer(offer("asterisk-hold.sdp"))
        self.assertEqual((result.direction, result.hold), (Direction.RECVONLY, True))
        self.assertFalse(result.direction.sends)
        self.assertTrue(result.direction.receives)
        _, result = answer(offer("inactive.sdp"))
        self.assertEqual((result.direction, result.hold), (Direction.INACTIVE, True))
        # Polycom puts a=sendonly at session level: the media inherits it.
        sdp, result = answer(offer("polycom-vvx-hold.sdp"))
        self.assertEqual((result.direction, result.hold), (Direction.RECVONLY, True))
        self.assertEqual(sdp.media[0].direction_attribute, Direction.RECVONLY)

    def test_rfc2543_hold(self) -> None:
        """c=0.0.0.0: send neither RTP nor RTCP (RFC 3264 §8.4)."""
        sdp, result = answer(offer("rfc2543-hold.sdp"))
        self.assertEqual((result.direction, result.hold), (Direction.RECVONLY, True))
        self.assertEqual(result.remote_rtp, ("0.0.0.0", 50020))
        self.assertIn("a=recvonly\r\n", str(sdp))
        text = (DATA / "rfc2543-hold.sdp").read_text().replace("fmtp:101 0-15", "recvonly")
        _, result = answer(parse_sdp(text))
        self.assertEqual(result.direction, Direction.INACTIVE)

    def test_local_hold_restricts(self) -> None:
        """While we hold, a sendrecv offer is answered sendonly (or inactive)."""
        _, result = answer(offer("asterisk.sdp"), direction=Direction.SENDONLY)
        self.assertEqual((result.direction, result.hold), (Direction.SENDONLY, False))
        _, result = answer(offer("asterisk-hold.sdp"), direction=Direction.SENDONLY)
        self.assertEqual(result.direction, Direction.INACTIVE)

    def test_video_rejected_in_place(self) -> None:
        """Other m= lines get port 0, same type, proto and formats (RFC 3264 §6)."""
        sdp, result = answer(offer("zoiper-video.sdp"))
        self.assertEqual(
            bytes(sdp),
            crlf(
                HEAD + "m=audio 10000 RTP/AVP 9 101\n"
                "a=rtpmap:9 G722/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n"
                "a=ptime:20\na=sendrecv\n"
                "m=video 0 RTP/AVP 99 34\n"
            ),
        )
        self.assertEqual(result.media_index, 0)

    def test_t38_beside_audio_rejected(self) -> None:
        sdp, result = answer(offer("fax-gateway-audio-t38.sdp"))
        self.assertEqual(str(sdp.media[1].lines()), str(["m=image 0 udptl t38"]))
        self.assertEqual((result.codec, result.dtmf_payload_type), (PCMU, 101))

    def test_srtp_line_rejected_rtp_line_accepted(self) -> None:
        """We do not do SRTP: the RTP/SAVP line is refused, the RTP/AVP one
        taken, and lower-case encoding names match."""
        sdp, result = answer(offer("snom-srtp-and-rtp.sdp"))
        self.assertEqual(result.media_index, 1)
        self.assertEqual(sdp.media[0].lines(), ["m=audio 0 RTP/SAVP 8 0 9 101"])
        self.assertEqual((sdp.media[1].port, result.codec), (10000, G722))
        self.assertEqual(result.remote_rtp, ("192.0.2.90", 62450))

    def test_only_one_audio_stream(self) -> None:
        """A second audio stream is refused, matched or not; a disabled one
        before it stays disabled."""
        text = (
            HEAD + "m=audio 0 RTP/AVP 0\n"
            "m=audio 4000 RTP/AVP 18 0\n"
            "m=audio 4002 RTP/AVP 8\n"
            "m=audio 4004 RTP/AVP 18\n"
        )
        sdp, result = answer(parse_sdp(text))
        self.assertEqual([m.port for m in sdp.media], [0, 10000, 0, 0])
        self.assertEqual([m.formats for m in sdp.media], [("0",), ("0",), ("8",), ("18",)])
        self.assertEqual((result.media_index, result.codec), (1, PCMU))

    def test_rtcp_address(self) -> None:
        """RFC 3605 a=rtcp with and without an address, else RTP port + 1."""
        _, result = answer(offer("nat-rtcp.sdp"))
        self.assertEqual(result.remote_rtp, ("198.51.100.9", 49170))
        self.assertEqual(result.remote_rtcp, ("198.51.100.10", 53020))
        _, result = answer(offer("freeswitch.sdp"))
        self.assertEqual(result.remote_rtcp, ("198.51.100.20", 24681))
        _, result = answer(offer("grandstream-te96.sdp"))
        self.assertEqual(result.remote_rtcp, ("192.168.20.31", 5005))
        _, result = answer(parse_sdp(HEAD + "m=audio 65535 RTP/AVP 0\n"))
        self.assertIsNone(result.remote_rtcp)

    def test_remote_address(self) -> None:
        """Media-level c= wins; IPv6 and RFC 5118 multi-family bodies work."""
        _, result = answer(offer("cisco-cube.sdp"))
        self.assertEqual(result.remote_rtp, ("192.0.2.201", 16434))
        _, result = answer(offer("linphone-ipv6-lf.sdp"))
        self.assertEqual(result.remote_rtp, ("2001:db8:85a3::8a2e:370:7334", 7078))
        message = (DATA / "rfc5118" / "wire" / "mult-ip-in-sdp.sip").read_bytes()
        sdp, result = answer(parse_sdp(message.split(b"\r\n\r\n", 1)[1]))
        self.assertEqual(result.remote_rtp, ("192.0.2.1", 22334))
        self.assertEqual(sdp.media[1].lines(), ["m=video 0 RTP/AVP 107"])

    def test_ipv6_local_address(self) -> None:
        sdp, _ = answer(offer("asterisk.sdp"), local=LocalMedia("2001:db8::5", 10000))
        self.assertEqual(str(sdp.origin), "- 3900000000 3900000000 IN IP6 2001:db8::5")
        self.assertEqual(str(sdp.connection), "IN IP6 2001:db8::5")

    def test_product_fields(self) -> None:
        """o= username "-", the caller's session id/version, s= server name."""
        local = LocalMedia("192.0.2.5", 12000, session_name="roomkit", username="-")
        sdp, _ = answer(offer("asterisk.sdp"), local=local, sess_id=1, sess_version=2)
        self.assertEqual(
            sdp.lines()[:6],
            ["v=0", "o=- 1 2 IN IP4 192.0.2.5", "s=roomkit", "c=IN IP4 192.0.2.5", "t=0 0",
             "m=audio 12000 RTP/AVP 9 101"],
        )  # fmt: skip


class RejectTests(SynchronousTestCase):
    def assertRejects(self, sdp: SessionDescription, code: int, text: str) -> None:
        error = self.assertRaises(OfferAnswerError, answer, sdp)
        self.assertEqual((error.status, error.reason), (488, "Not Acceptable Here"))
        self.assertEqual(
            (error.warn_code, error.warning), (code, f'{code} sip.example.net "{text}"')
        )

    def test_no_common_codec(self) -> None:
        self.assertRejects(offer("g729-only.sdp"), 305, "Incompatible media format")
        message = (DATA / "rfc5118" / "ipv6-in-sdp").read_bytes()  # G726-32 only
        self.assertRejects(
            parse_sdp(message.split(b"\n\n", 1)[1]), 305, "Incompatible media format"
        )

    def test_no_audio(self) -> None:
        self.assertRejects(offer("t38-reinvite.sdp"), 304, "Media type not available")
        self.assertRejects(parse_sdp(HEAD), 304, "Media type not available")
        disabled = parse_sdp(HEAD + "m=audio 0 RTP/AVP 0\n")
        self.assertRejects(disabled, 304, "Media type not available")

    def test_srtp_only(self) -> None:
        self.assertRejects(offer("srtp-only.sdp"), 302, "Incompatible transport protocol")

    def test_unusable_address_type(self) -> None:
        text = HEAD + "m=audio 4000 RTP/AVP 0\nc=ATM NSAP 47.0005.80.ffe100\n"
        self.assertRejects(parse_sdp(text), 301, "Incompatible network address formats")

    def test_most_specific_reason(self) -> None:
        """Video plus G.729-only audio: the codec is what is wrong (305)."""
        text = HEAD + "m=video 5000 RTP/AVP 99\nm=audio 4000 RTP/SAVP 0\nm=audio 4002 RTP/AVP 18\n"
        self.assertRejects(parse_sdp(text), 305, "Incompatible media format")

    @given(mutated())
    def test_any_parsed_offer(self, data: bytes) -> None:
        """Whatever the parser accepts is answered or refused with 488, and
        an answer keeps the offer's m= count with one stream accepted."""
        try:
            sdp = parse_sdp(data)
            result = answer(sdp)
        except (SDPParseError, OfferAnswerError):
            return
        reply, negotiation = result
        self.assertEqual(len(reply.media), len(sdp.media))
        self.assertEqual([m.port != 0 for m in reply.media].count(True), 1)
        self.assertEqual(reply.media[negotiation.media_index].port, ME.rtp_port)
        self.assertEqual(parse_sdp(bytes(reply)), reply)


OFFER = (
    HEAD + "m=audio 10000 RTP/AVP 9 0 8 101\n"
    "a=rtpmap:9 G722/8000\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\na=sendrecv\n"
)
PEER = "v=0\no=- 77 77 IN IP4 198.51.100.20\ns=-\nc=IN IP4 198.51.100.20\nt=0 0\n"


class OfferTests(SynchronousTestCase):
    def test_create_offer(self) -> None:
        """Every codec in preference order, rtpmap for static ones too,
        telephone-event 101 0-16, ptime 20, sendrecv."""
        sdp = create_offer(LOCAL, ME, sess_id=3900000000, sess_version=3900000000)
        self.assertEqual(bytes(sdp), crlf(OFFER))

    def test_create_offer_options(self) -> None:
        local = LocalMedia("192.0.2.5", 10000, dtmf_payload_type=96, ptime=30)
        wide = Codec("L16", 97, 16000)
        sdp = create_offer((wide, PCMU), local, sess_id=1, sess_version=1,
                           direction=Direction.SENDONLY)  # fmt: skip
        audio = sdp.media[0]
        self.assertEqual(audio.formats, ("97", "0", "96", "98"))
        self.assertEqual(audio.rtpmaps()[96].clock_rate, 16000)  # the first codec's clock
        self.assertEqual(audio.rtpmaps()[98].clock_rate, 8000)
        self.assertEqual((audio.ptime, audio.direction_attribute), (30, Direction.SENDONLY))

    def test_create_offer_refuses_bad_codecs(self) -> None:
        self.assertRaises(ValueError, create_offer, (), ME, sess_id=1, sess_version=1)
        clash = (Codec("opus", 101, 48000, 2),)
        self.assertRaises(ValueError, create_offer, clash, ME, sess_id=1, sess_version=1)
        twice = (PCMU, Codec("PCMU", 0))
        self.assertRaises(ValueError, create_offer, twice, ME, sess_id=1, sess_version=1)

    def test_local_media_validation(self) -> None:
        for kw in (
            {"rtp_port": 0},
            {"dtmf_payload_type": 13},
            {"ptime": 25},
            {"dtmf_events": "x"},
        ):
            self.assertRaises(
                ValueError, LocalMedia, **{"address": "192.0.2.5", "rtp_port": 1, **kw}
            )

    def test_process_answer(self) -> None:
        """The peer picked PCMA and kept 101: we send PCMA/101 at its ptime."""
        ours = parse_sdp(OFFER)
        theirs = parse_sdp(
            PEER + "m=audio 30000 RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\n"
            "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:30\n"
        )
        self.assertEqual(
            process_answer(ours, theirs, LOCAL, ME),
            Negotiation(
                codec=PCMA, payload_type=8, receive_payload_type=8, dtmf_payload_type=101,
                receive_dtmf_payload_type=101, dtmf_clock_rate=8000, ptime=30,
                direction=Direction.SENDRECV, remote_rtp=("198.51.100.20", 30000),
                remote_rtcp=("198.51.100.20", 30001), hold=False, media_index=0,
            ),
        )  # fmt: skip

    def test_process_answer_renumbered(self) -> None:
        """An answerer that renumbers is obeyed for what we send (RFC 3264
        §5.1); we still receive our own numbers."""
        local = LocalMedia("192.0.2.5", 10000)
        opus = Codec("opus", 111, 48000, 2)
        ours = create_offer((opus, PCMU), local, sess_id=1, sess_version=1)
        theirs = parse_sdp(
            PEER + "m=audio 30000 RTP/AVP 109 0 96\na=rtpmap:109 opus/48000/2\n"
            "a=rtpmap:96 telephone-event/48000\n"
        )
        result = process_answer(ours, theirs, (opus, PCMU), local)
        self.assertEqual((result.codec, result.payload_type, result.receive_payload_type),
                         (opus, 109, 111))  # fmt: skip
        self.assertEqual((result.dtmf_payload_type, result.receive_dtmf_payload_type), (96, 101))

    def test_process_answer_first_common_codec_and_no_dtmf(self) -> None:
        ours = parse_sdp(OFFER)
        theirs = parse_sdp(PEER + "m=audio 30000 RTP/AVP 18 0 8\na=rtpmap:18 G729/8000\n")
        result = process_answer(ours, theirs, LOCAL, ME)
        self.assertEqual((result.codec, result.dtmf_payload_type, result.ptime), (PCMU, None, 20))

    def test_process_answer_direction(self) -> None:
        ours = parse_sdp(OFFER)
        for extra, direction, hold in [
            ("a=recvonly\n", Direction.SENDONLY, False),
            ("a=sendonly\n", Direction.RECVONLY, True),
            ("a=inactive\n", Direction.INACTIVE, True),
        ]:  # fmt: skip
            theirs = parse_sdp(PEER + "m=audio 30000 RTP/AVP 0\n" + extra)
            result = process_answer(ours, theirs, LOCAL, ME)
            self.assertEqual((result.direction, result.hold), (direction, hold), extra)
        held = parse_sdp(PEER.replace("c=IN IP4 198.51.100.20", "c=IN IP4 0.0.0.0")
                         + "m=audio 30000 RTP/AVP 0\n")  # fmt: skip
        result = process_answer(ours, held, LOCAL, ME)
        self.assertEqual((result.direction, result.hold), (Direction.RECVONLY, True))

    @given(mutated())
    def test_any_parsed_answer(self, data: bytes) -> None:
        """Whatever the parser accepts as an answer to our offer gives a
        negotiation or L{OfferAnswerError}, nothing else."""
        try:
            result = process_answer(parse_sdp(OFFER), parse_sdp(data), LOCAL, ME)
        except (SDPParseError, OfferAnswerError):
            return
        self.assertIn(result.codec, LOCAL)
        self.assertEqual(result.media_index, 0)

    def test_process_answer_violations(self) -> None:
        """RFC 3264 §6: same m= count and types; a disabled stream stays
        disabled; port 0 on audio is a rejection; the codec must be ours."""
        ours = parse_sdp(OFFER + "m=video 0 RTP/AVP 99\n")
        audio = "m=audio 30000 RTP/AVP 0\n"
        cases = [
            (audio, "answer has 1 m= lines, offer 2", 304),
            (audio + "m=image 0 udptl t38\n", "does not match", 304),
            (audio + "m=video 5000 RTP/AVP 99\n", "does not match", 304),
            ("m=audio 0 RTP/AVP 0\nm=video 0 RTP/AVP 99\n", "rejects the audio stream", 304),
            ("m=audio 30000 RTP/AVP 18\nm=video 0 RTP/AVP 99\n", "no codec of our offer", 305),
            ("m=audio 30000 RTP/AVP 3\nm=video 0 RTP/AVP 99\n", "no codec of our offer", 305),
        ]
        for body, message, code in cases:
            error = self.assertRaises(OfferAnswerError, process_answer, ours,
                                      parse_sdp(PEER + body), LOCAL, ME)  # fmt: skip
            self.assertIn(message, str(error))
            self.assertEqual(error.warn_code, code)
        self.assertRaises(ValueError, process_answer, parse_sdp(HEAD), parse_sdp(PEER), LOCAL, ME)


class SessionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.session = OfferAnswerSession(LOCAL, ME, sess_id=3900000000)

    def test_same_reoffer_same_version(self) -> None:
        """A re-INVITE that changes nothing gets the same answer, same o=
        version (RFC 3264 §8)."""
        first, _ = self.session.answer(offer("asterisk.sdp"))
        again, result = self.session.answer(offer("asterisk.sdp"))
        self.assertEqual(bytes(again), bytes(first))
        self.assertEqual(first.origin.sess_version, 3900000000)
        self.assertEqual(result, self.session.negotiation)
        self.assertIs(self.session.last_sent, again)

    def test_changed_answer_bumps_version_by_one(self) -> None:
        self.session.answer(offer("asterisk.sdp"))
        held, result = self.session.answer(offer("asterisk-hold.sdp"))
        self.assertEqual(held.origin.sess_version, 3900000001)
        self.assertEqual(held.origin.sess_id, 3900000000)
        self.assertEqual((result.direction, result.hold), (Direction.RECVONLY, True))
        held_again, _ = self.session.answer(offer("asterisk-hold.sdp"))
        self.assertEqual(held_again.origin.sess_version, 3900000001)
        resumed, result = self.session.answer(offer("asterisk.sdp"))
        self.assertEqual(resumed.origin.sess_version, 3900000002)
        self.assertEqual(result.direction, Direction.SENDRECV)

    def test_initial_version_given(self) -> None:
        session = OfferAnswerSession(LOCAL, ME, sess_id=5, sess_version=9)
        sdp, _ = session.answer(offer("asterisk.sdp"))
        self.assertEqual((sdp.origin.sess_id, sdp.origin.sess_version), (5, 9))

    def test_refused_reoffer_leaves_session(self) -> None:
        """A 488 to a re-INVITE changes nothing (RFC 3261 §14.2)."""
        first, result = self.session.answer(offer("asterisk.sdp"))
        self.assertRaises(OfferAnswerError, self.session.answer, offer("t38-reinvite.sdp"))
        self.assertEqual(self.session.negotiation, result)
        again, _ = self.session.answer(offer("asterisk.sdp"))
        self.assertEqual(again, first)

    def test_codec_kept_on_reoffer(self) -> None:
        """Once PCMU is in use, a re-offer that adds G.722 keeps PCMU."""
        self.session.answer(offer("sipp-uac.sdp"))
        sdp, result = self.session.answer(offer("asterisk.sdp"))
        self.assertIs(result.codec, PCMU)
        self.assertEqual(sdp.media[0].formats, ("0", "101"))
        _, result = self.session.answer(offer("grandstream-te96.sdp"))
        self.assertIs(result.codec, PCMU)
        _, result = self.session.answer(parse_sdp(HEAD + "m=audio 4000 RTP/AVP 9\n"))
        self.assertIs(result.codec, G722)  # PCMU gone: fall back to preference

    def test_late_offer(self) -> None:
        """INVITE without SDP: we offer in the 200, the answer comes in the ACK."""
        sdp = self.session.offer()
        self.assertEqual(bytes(sdp), crlf(OFFER))
        self.assertIs(self.session.pending_offer, sdp)
        ack = parse_sdp(PEER + "m=audio 30000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n")
        result = self.session.process_answer(ack)
        self.assertEqual((result.codec, result.dtmf_payload_type), (PCMU, 101))
        self.assertIsNone(self.session.pending_offer)
        self.assertIs(self.session.negotiation, result)
        self.assertRaises(RuntimeError, self.session.process_answer, ack)

    def test_hold_and_resume(self) -> None:
        """Our hold re-offer: sendonly, the codec in use only, every m= line
        kept, version + 1; resume likewise (RFC 3264 §8.4)."""
        self.session.answer(offer("zoiper-video.sdp"))
        held = self.session.hold()
        self.assertEqual(
            bytes(held),
            crlf(
                HEAD.replace("3900000000 IN", "3900000001 IN") + "m=audio 10000 RTP/AVP 9 101\n"
                "a=rtpmap:9 G722/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n"
                "a=ptime:20\na=sendonly\nm=video 0 RTP/AVP 99 34\n"
            ),
        )
        self.assertEqual(self.session.local_hold, Direction.SENDONLY)
        reply = parse_sdp(
            PEER + "m=audio 8000 RTP/AVP 9 101\na=rtpmap:101 telephone-event/8000\n"
            "a=recvonly\nm=video 0 RTP/AVP 99\n"
        )
        result = self.session.process_answer(reply)
        self.assertEqual((result.direction, result.hold), (Direction.SENDONLY, False))
        # A peer re-offer while we hold is answered no further than sendonly.
        sdp, result = self.session.answer(offer("zoiper-video.sdp"))
        self.assertEqual(result.direction, Direction.SENDONLY)
        self.assertEqual(sdp.origin.sess_version, 3900000001)  # same as the hold offer
        resumed = self.session.resume()
        self.assertEqual(resumed.origin.sess_version, 3900000002)
        self.assertEqual(resumed.media[0].direction_attribute, Direction.SENDRECV)
        self.assertIsNone(self.session.local_hold)

    def test_hold_keeps_refused_lines(self) -> None:
        """RFC 3264 §8: a re-offer has as many m= lines as before; the SAVP
        line we refused stays refused, the audio keeps its place."""
        self.session.answer(offer("snom-srtp-and-rtp.sdp"))
        held = self.session.hold()
        self.assertEqual(held.media[0].lines(), ["m=audio 0 RTP/SAVP 8 0 9 101"])
        self.assertEqual(held.media[1].formats, ("9", "101"))
        self.assertEqual(held.media[1].fmtp(101), "0-16")
        reply = parse_sdp(PEER + "m=audio 0 RTP/SAVP 8\nm=audio 7000 RTP/AVP 9\na=recvonly\n")
        result = self.session.process_answer(reply)
        self.assertEqual((result.media_index, result.direction), (1, Direction.SENDONLY))
        self.assertEqual(result.remote_rtp, ("198.51.100.20", 7000))

    def test_hold_inactive(self) -> None:
        self.session.answer(offer("asterisk.sdp"))
        held = self.session.hold(Direction.INACTIVE)
        self.assertEqual(held.media[0].direction_attribute, Direction.INACTIVE)
        self.assertRaises(ValueError, self.session.hold, Direction.RECVONLY)

    def test_cancel_offer_restores_hold(self) -> None:
        """A refused hold re-INVITE (491, 488) leaves us not holding."""
        self.session.answer(offer("asterisk.sdp"))
        self.session.hold()
        self.session.cancel_offer()
        self.assertIsNone(self.session.local_hold)
        self.assertIsNone(self.session.pending_offer)
        self.session.cancel_offer()  # nothing pending: nothing happens
        self.assertIsNone(self.session.local_hold)

    def test_bad_answer_restores_hold(self) -> None:
        self.session.answer(offer("asterisk.sdp"))
        self.session.hold()
        bad = parse_sdp(PEER + "m=audio 30000 RTP/AVP 18\n")
        self.assertRaises(OfferAnswerError, self.session.process_answer, bad)
        self.assertIsNone(self.session.local_hold)
        self.assertEqual(self.session.negotiation.direction, Direction.SENDRECV)

    def test_repeated_offer_same_version(self) -> None:
        """An offer in a re-INVITE without SDP equal to the last one keeps
        its version (RFC 3264 §8)."""
        first = self.session.offer()
        self.session.process_answer(parse_sdp(PEER + "m=audio 30000 RTP/AVP 9\n"))
        reoffer = self.session.offer()
        self.assertEqual(reoffer.origin.sess_version, first.origin.sess_version + 1)
        self.assertEqual(reoffer.media[0].formats, ("9",))  # the answer had no telephone-event
        self.assertEqual(self.session.offer(), reoffer)
