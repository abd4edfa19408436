"""
L{roomkit_sip.sip.sdp}: parsing realistic offers, the RFC 4566 rules the
parser enforces, the media helpers, and serializer round trips.
"""

import pathlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip.sdp import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtcpAttribute,
    RtpMap,
    SDPParseError,
    SessionDescription,
    Timing,
    parse_sdp,
)

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "sdp"


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def sip_body(message: bytes) -> bytes:
    """The body of a SIP message: what follows the first empty line."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in message:
            return message.split(separator, 1)[1]
    raise AssertionError("no blank line ends the headers")


MINIMAL = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


class ParseTests(SynchronousTestCase):
    def test_asterisk_offer(self) -> None:
        """Every field of a typical PBX offer lands in the model."""
        sdp = parse_sdp(fixture("asterisk.sdp"))
        self.assertEqual(
            sdp.origin, Origin("-", 1893254826, 1893254826, "IN", "IP4", "203.0.113.10")
        )
        self.assertEqual(sdp.session_name, "Asterisk")
        self.assertEqual(sdp.connection, Connection("IN", "IP4", "203.0.113.10"))
        self.assertEqual(sdp.timings, (Timing(0, 0),))
        (audio,) = sdp.media
        self.assertEqual(
            (audio.media, audio.port, audio.port_count, audio.proto, audio.formats),
            ("audio", 17602, None, "RTP/AVP", ("0", "8", "9", "101")),
        )
        self.assertEqual(
            audio.attributes,
            (
                Attribute("rtpmap", "0 PCMU/8000"),
                Attribute("rtpmap", "8 PCMA/8000"),
                Attribute("rtpmap", "9 G722/8000"),
                Attribute("rtpmap", "101 telephone-event/8000"),
                Attribute("fmtp", "101 0-16"),
                Attribute("ptime", "20"),
                Attribute("maxptime", "150"),
                Attribute("sendrecv"),
            ),
        )

    def test_every_optional_line(self) -> None:
        """i= u= e= p= b= r= z= k=, two t=, multicast and several media c=."""
        sdp = parse_sdp(fixture("multicast-seminar.sdp"))
        self.assertEqual(sdp.information, "Audio and slides for the quarterly call")
        self.assertEqual(sdp.uri, "https://example.com/q3")
        self.assertEqual(sdp.emails, ("ops@example.com (Ops Desk)", "noc@example.com"))
        self.assertEqual(sdp.phones, ("+1 555 0100",))
        self.assertEqual(sdp.connection, Connection("IN", "IP4", "233.252.0.10/64"))
        self.assertEqual(sdp.connection.host, "233.252.0.10")
        self.assertEqual(sdp.bandwidths, (Bandwidth("CT", 256),))
        self.assertEqual(
            sdp.timings,
            (Timing(3724394400, 3724398000, ("7d 1h 0 25h",)), Timing(3725004000, 0)),
        )
        self.assertEqual(sdp.time_zones, "3730928400 -1h 3749680800 0")
        self.assertEqual(sdp.key, "prompt")
        self.assertEqual(sdp.attributes, (Attribute("recvonly"), Attribute("tool", "confctl 2.1")))
        self.assertEqual(sdp.attribute("tool"), Attribute("tool", "confctl 2.1"))
        self.assertIsNone(sdp.attribute("ptime"))
        audio, board = sdp.media
        self.assertEqual(
            (audio.information, audio.bandwidths), ("English", (Bandwidth("AS", 64),))
        )
        self.assertEqual(
            board.connections,
            (
                Connection("IN", "IP4", "233.252.0.11/64"),
                Connection("IN", "IP4", "233.252.0.12/64"),
            ),
        )
        self.assertEqual((board.proto, board.formats), ("udp", ("wb",)))

    def test_bare_lf(self) -> None:
        """Bare LF line ends (Linphone) parse like CRLF and serialize as CRLF."""
        data = fixture("linphone-ipv6-lf.sdp")
        self.assertNotIn(b"\r", data)
        sdp = parse_sdp(data)
        self.assertEqual(sdp.connection, Connection("IN", "IP6", "2001:db8:85a3::8a2e:370:7334"))
        self.assertEqual(len(sdp.media[0].attributes), 12)
        self.assertEqual(bytes(sdp), data.replace(b"\n", b"\r\n"))

    def test_trailing_whitespace_and_blank_end(self) -> None:
        """Trailing spaces and tabs are dropped, a blank last line ignored, and
        an C{s= } (RFC 4566 §5.3's empty name) written back as C{s= }."""
        sdp = parse_sdp(fixture("baresip-trailing-space.sdp"))
        self.assertEqual(sdp.session_name, "")
        audio = sdp.media[0]
        self.assertEqual(audio.formats, ("9", "0", "8", "101"))
        self.assertIn(Attribute("sendrecv"), audio.attributes)
        self.assertIn(Attribute("rtpmap", "101 telephone-event/8000"), audio.attributes)
        self.assertIn(b"\r\ns= \r\n", bytes(sdp))

    def test_unknown_line_types_kept(self) -> None:
        """GB28181's y= and f= are kept with their section and written back."""
        data = fixture("gb28181-camera.sdp")
        sdp = parse_sdp(data)
        self.assertEqual(sdp.media[0].other, (("y", "0100000001"), ("f", "v/////a/1/8/1")))
        self.assertEqual(bytes(sdp), data)

    def test_unknown_attribute_kept(self) -> None:
        sdp = parse_sdp(MINIMAL + "a=x-vendor:some thing: odd\r\na=x-flag\r\n")
        self.assertEqual(
            sdp.attributes, (Attribute("x-vendor", "some thing: odd"), Attribute("x-flag"))
        )

    def test_empty_attribute_value_differs_from_flag(self) -> None:
        sdp = parse_sdp(MINIMAL + "a=x:\r\na=x\r\n")
        self.assertEqual(sdp.attributes, (Attribute("x", ""), Attribute("x")))
        self.assertEqual(str(sdp), MINIMAL + "a=x:\r\na=x\r\n")

    def test_port_count(self) -> None:
        sdp = parse_sdp(MINIMAL + "m=audio 49170/2 RTP/AVP 0\r\n")
        self.assertEqual((sdp.media[0].port, sdp.media[0].port_count), (49170, 2))
        self.assertIn("m=audio 49170/2 RTP/AVP 0\r\n", str(sdp))

    def test_optional_lines_out_of_order(self) -> None:
        """Lines of one section in the wrong §5 order are read and written
        back in order."""
        sdp = parse_sdp("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nt=0 0\na=x\nc=IN IP4 192.0.2.1\n")
        self.assertEqual(str(sdp), MINIMAL + "a=x\r\n")

    def test_rfc5118_ipv6_in_sdp(self) -> None:
        """RFC 5118 §4.5: IPv6 in o= and c=."""
        for path in ("rfc5118/ipv6-in-sdp", "rfc5118/wire/ipv6-in-sdp.sip"):
            sdp = parse_sdp(sip_body(fixture(path)))
            self.assertEqual(sdp.origin.addrtype, "IP6")
            self.assertEqual(sdp.origin.address, "2001:db8::20")
            self.assertEqual(sdp.connection, Connection("IN", "IP6", "2001:db8::20"))
            self.assertEqual([m.media for m in sdp.media], ["audio", "video"])
            self.assertEqual(sdp.timings, (Timing(3338481189, 3370017201),))

    def test_rfc5118_multiple_ip_in_sdp(self) -> None:
        """RFC 5118 §4.6: no session c=, one IPv4 and one IPv6 media c=, empty s=."""
        for path in ("rfc5118/mult-ip-in-sdp", "rfc5118/wire/mult-ip-in-sdp.sip"):
            sdp = parse_sdp(sip_body(fixture(path)))
            self.assertIsNone(sdp.connection)
            self.assertEqual(sdp.session_name, "")
            audio, video = sdp.media
            self.assertEqual(sdp.connection_of(audio), Connection("IN", "IP4", "192.0.2.1"))
            self.assertEqual(sdp.connection_of(video), Connection("IN", "IP6", "2001:db8::1"))
            self.assertEqual(parse_sdp(bytes(sdp)), sdp)

    def test_rfc5118_ipv4_mapped_ipv6(self) -> None:
        """RFC 5118 §4.7: an IPv4-mapped IPv6 address is an IP6 address."""
        for path in ("rfc5118/ipv4-mapped-ipv6", "rfc5118/wire/ipv4-mapped-ipv6.sip"):
            sdp = parse_sdp(sip_body(fixture(path)))
            self.assertEqual(sdp.connection, Connection("IN", "IP6", "::ffff:192.0.2.2"))
            self.assertEqual(sdp.origin.address, "::ffff:192.0.2.2")

    def test_crlf_fixtures_round_trip_exactly(self) -> None:
        """Fixtures already in canonical order serialize back byte for byte."""
        exact = sorted(DATA.glob("*.sdp"))
        exact = [p for p in exact if p.name not in ("baresip-trailing-space.sdp",)]
        exact = [p for p in exact if not p.name.endswith("-lf.sdp")]
        self.assertGreater(len(exact), 15)
        for path in exact:
            data = path.read_bytes()
            self.assertEqual(bytes(parse_sdp(data)), data, path.name)

    def test_str_and_bytes_input(self) -> None:
        data = fixture("asterisk.sdp")
        self.assertEqual(parse_sdp(data.decode()), parse_sdp(data))
        self.assertEqual(parse_sdp(bytearray(data)), parse_sdp(data))

    def test_non_utf8_text_survives(self) -> None:
        """A Latin-1 session name (a=charset peers) round-trips byte for byte."""
        data = MINIMAL.replace("s=-", "s=R\xe9union").encode("latin-1")
        self.assertEqual(bytes(parse_sdp(data)), data)

    def test_utf8_text(self) -> None:
        sdp = parse_sdp(MINIMAL.replace("s=-", "s=Réunion ☎").encode())
        self.assertEqual(sdp.session_name, "Réunion ☎")


# (description, input, message fragment, line number or None)
MALFORMED = [
    ("empty", "", "empty session description", None),
    ("only blank lines", "\r\n\r\n", "empty session description", None),
    ("not v= first", "o=- 1 1 IN IP4 h\r\nv=0\r\n", "expected v=", 1),
    ("v= then s=", "v=0\r\ns=-\r\n", "expected o=", 2),
    ("o= then t=", "v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n", "expected s=", 3),
    ("version 1", "v=1\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "unsupported SDP version", 1),
    ("o= five fields", "v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n", "o= needs", 2),
    ("o= sess-id", "v=0\r\no=- 1a 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "sess-id must be digits", 2),
    ("o= huge", "v=0\r\no=- " + "9" * 5000 + " 1 IN IP4 h\r\n", "sess-id must be digits", 2),
    ("o= sess-version", "v=0\r\no=- 1 -1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "sess-version", 2),
    ("o= nettype", "v=0\r\no=- 1 1 I(N IP4 h\r\ns=-\r\nt=0 0\r\n", "bad nettype", 2),
    ("no t=", "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\n", "t= is required", None),
    ("only v= o=", "v=0\r\no=- 1 1 IN IP4 h\r\n", "needs v=, o= and s=", None),
    ("m= before t=", "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n", "t= is req", 4),
    ("not a line", MINIMAL + "hello\r\n", "expected <type>=<value>", 6),
    ("space before =", MINIMAL + "a =x\r\n", "expected <type>=<value>", 6),
    ("two-letter type", MINIMAL + "ab=x\r\n", "expected <type>=<value>", 6),
    ("digit type", MINIMAL + "1=x\r\n", "expected <type>=<value>", 6),
    ("interior blank line", MINIMAL + "\r\na=x\r\n", "expected <type>=<value>", 6),
    ("NUL", MINIMAL + "a=x\x00y\r\n", "stray CR or NUL", 6),
    ("stray CR", MINIMAL + "a=x\ry\r\n", "stray CR or NUL", 6),
    ("two s=", MINIMAL + "s=again\r\n", "more than one s=", 6),
    ("two session c=", MINIMAL + "c=IN IP4 192.0.2.2\r\n", "more than one c=", 6),
    ("two media i=", MINIMAL + "m=audio 1 RTP/AVP 0\r\ni=a\r\ni=b\r\n", "more than one i=", 8),
    ("t= in media", MINIMAL + "m=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "not allowed in a media", 7),
    ("e= in media", MINIMAL + "m=audio 1 RTP/AVP 0\r\ne=x@example.com\r\n", "not allowed", 7),
    ("r= not after t=", MINIMAL + "a=x\r\nr=1d 1h 0\r\n", "r= must follow t=", 7),
    ("r= short", MINIMAL + "r=1d 1h\r\n", "r= needs 3 fields", 6),
    ("c= two fields", MINIMAL.replace("c=IN IP4 192.0.2.1", "c=IN 192.0.2.1"), "c= needs", 4),
    ("b= no colon", MINIMAL + "b=AS64\r\n", "b= needs <bwtype>:<bandwidth>", 6),
    ("b= not digits", MINIMAL + "b=AS:lots\r\n", "bandwidth must be digits", 6),
    ("t= one field", MINIMAL.replace("t=0 0", "t=0"), "t= needs <start> <stop>", 5),
    ("t= negative", MINIMAL.replace("t=0 0", "t=0 -1"), "stop time must be digits", 5),
    ("m= short", MINIMAL + "m=audio 1\r\n", "m= needs", 6),
    ("m= port range", MINIMAL + "m=audio 70000 RTP/AVP 0\r\n", "port 70000 is out of range", 6),
    ("m= port text", MINIMAL + "m=audio x RTP/AVP 0\r\n", "port must be digits", 6),
    ("m= port count", MINIMAL + "m=audio 1/ RTP/AVP 0\r\n", "number of ports", 6),
    ("m= no format", MINIMAL + "m=audio 4000 RTP/AVP\r\n", "m= lists no format", 6),
    ("m= bad proto", MINIMAL + "m=audio 4000 RTP//AVP 0\r\n", "bad proto", 6),
    ("attribute name", MINIMAL + "a=:x\r\n", "bad attribute name", 6),
    ("attribute space", MINIMAL + "a=rtp map:0 PCMU/8000\r\n", "bad attribute name", 6),
    (
        "media without c=",
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n",
        "m= #1 has no c=",
        None,
    ),
]


class MalformedTests(SynchronousTestCase):
    def test_malformed(self) -> None:
        """Each malformed description raises L{SDPParseError} naming the rule
        and the line."""
        for description, text, fragment, line in MALFORMED:
            with self.subTest(description):
                error = self.assertRaises(SDPParseError, parse_sdp, text.encode("utf-8"))
                self.assertIn(fragment, str(error))
                self.assertEqual(error.line, line)
                if line is not None:
                    self.assertTrue(str(error).startswith(f"SDP line {line}: "))

    def test_error_knows_its_reply(self) -> None:
        error = self.assertRaises(SDPParseError, parse_sdp, b"garbage")
        self.assertEqual((error.status, error.reason), (400, "Bad Request"))
        self.assertIsInstance(error, ValueError)

    def test_disabled_stream_without_format(self) -> None:
        """A port-zero m= with no format is tolerated (seen in rejections)."""
        sdp = parse_sdp(MINIMAL + "m=video 0 RTP/AVP\r\n")
        self.assertEqual(sdp.media[0].formats, ())


class MediaHelperTests(SynchronousTestCase):
    def test_rtpmaps_static_implied(self) -> None:
        """RFC 3551 static types need no rtpmap; dynamic ones without one are
        skipped; order follows m=."""
        sdp = parse_sdp(fixture("linphone-ipv6-lf.sdp"))
        rtpmaps = sdp.media[0].rtpmaps()
        self.assertEqual(list(rtpmaps), [96, 97, 98, 0, 8, 18, 101, 99, 100])
        self.assertEqual(rtpmaps[0], RtpMap(0, "PCMU", 8000))
        self.assertEqual(rtpmaps[8], RtpMap(8, "PCMA", 8000))
        self.assertEqual(rtpmaps[18], RtpMap(18, "G729", 8000))
        self.assertEqual(rtpmaps[96], RtpMap(96, "opus", 48000, 2))
        self.assertEqual(rtpmaps[100], RtpMap(100, "telephone-event", 8000))
        media = MediaDescription("audio", 1, "RTP/AVP", ("9", "13", "96", "x"))
        self.assertEqual(media.rtpmaps(), {9: STATIC_PAYLOAD_TYPES[9], 13: RtpMap(13, "CN", 8000)})
        self.assertEqual(STATIC_PAYLOAD_TYPES[9], RtpMap(9, "G722", 8000))

    def test_rtpmap_overrides_static_and_bad_ones_ignored(self) -> None:
        media = MediaDescription(
            "audio", 1, "RTP/AVP", ("0", "97", "98", "99"),
            attributes=(
                Attribute("rtpmap", "0 PCMA/8000"),
                Attribute("rtpmap", "97 telephone-event"),
                Attribute("rtpmap", "98 L16/x"),
                Attribute("rtpmap", "99 L16/16000/0"),
                Attribute("rtpmap"),
            ),
        )  # fmt: skip
        self.assertEqual(media.rtpmaps(), {0: RtpMap(0, "PCMA", 8000)})

    def test_rtpmap_matches(self) -> None:
        rtpmap = RtpMap(9, "g722", 8000)
        self.assertTrue(rtpmap.matches("G722", 8000, 1))
        self.assertFalse(rtpmap.matches("G722", 16000, 1))
        self.assertFalse(RtpMap(96, "opus", 48000, 2).matches("opus", 48000, 1))
        self.assertEqual(str(RtpMap(96, "opus", 48000, 2)), "96 opus/48000/2")
        self.assertEqual(str(RtpMap(0, "PCMU", 8000)), "0 PCMU/8000")

    def test_fmtp(self) -> None:
        audio = parse_sdp(fixture("freeswitch.sdp")).media[0]
        self.assertEqual(audio.fmtp(101), "0-16")
        self.assertEqual(audio.fmtp("100"), "0-16")
        self.assertEqual(
            audio.fmtp(102), "useinbandfec=1; maxplaybackrate=16000; sprop-maxcapturerate=16000"
        )
        self.assertIsNone(audio.fmtp(0))

    def test_ptime_and_maxptime(self) -> None:
        audio = parse_sdp(fixture("asterisk.sdp")).media[0]
        self.assertEqual((audio.ptime, audio.maxptime), (20, 150))
        plain = parse_sdp(fixture("sipp-uac.sdp")).media[0]
        self.assertEqual((plain.ptime, plain.maxptime), (None, None))
        for value, expected in (
            ("30", 30),
            ("20.0", 20),
            ("22.5", None),
            ("x", None),
            ("9" * 5000, None),
        ):
            media = MediaDescription("audio", 1, "RTP/AVP", ("0",), attributes=(
                Attribute("ptime", value),))  # fmt: skip
            self.assertEqual(media.ptime, expected, value)

    def test_direction_default_inherit_override(self) -> None:
        """sendrecv by default; a session-level attribute applies to media
        without one; a media-level one wins (RFC 4566 §6)."""
        self.assertEqual(
            parse_sdp(fixture("sipp-uac.sdp")).direction_of(
                parse_sdp(fixture("sipp-uac.sdp")).media[0]
            ),
            Direction.SENDRECV,
        )
        held = parse_sdp(fixture("polycom-vvx-hold.sdp"))
        self.assertIsNone(held.media[0].direction_attribute)
        self.assertEqual(held.direction_attribute, Direction.SENDONLY)
        self.assertEqual(held.direction_of(held.media[0]), Direction.SENDONLY)
        seminar = parse_sdp(fixture("multicast-seminar.sdp"))
        self.assertEqual(seminar.direction_of(seminar.media[0]), Direction.RECVONLY)
        override = MediaDescription("audio", 1, "RTP/AVP", ("0",), attributes=(
            Attribute("inactive"),))  # fmt: skip
        self.assertEqual(held.direction_of(override), Direction.INACTIVE)
        valued = MediaDescription("audio", 1, "RTP/AVP", ("0",), attributes=(
            Attribute("sendonly", "x"),))  # fmt: skip
        self.assertIsNone(valued.direction_attribute)

    def test_rtcp_attribute(self) -> None:
        """RFC 3605 a=rtcp with and without an address; malformed is None."""
        nat = parse_sdp(fixture("nat-rtcp.sdp")).media[0]
        self.assertEqual(nat.rtcp, RtcpAttribute(53020, Connection("IN", "IP4", "198.51.100.10")))
        self.assertEqual(parse_sdp(fixture("freeswitch.sdp")).media[0].rtcp, RtcpAttribute(24681))
        self.assertIsNone(parse_sdp(fixture("asterisk.sdp")).media[0].rtcp)
        for value in ("", "x", "70000", "5000 IN IP4", None):
            media = MediaDescription("audio", 1, "RTP/AVP", ("0",), attributes=(
                Attribute("rtcp", value),))  # fmt: skip
            self.assertIsNone(media.rtcp, value)

    def test_connection_of(self) -> None:
        """A media-level c= overrides the session's (RFC 4566 §5.7)."""
        sdp = parse_sdp(fixture("cisco-cube.sdp"))
        self.assertEqual(sdp.connection_of(sdp.media[0]), Connection("IN", "IP4", "192.0.2.201"))
        other = MediaDescription("audio", 1, "RTP/AVP", ("0",))
        self.assertEqual(sdp.connection_of(other), Connection("IN", "IP4", "192.0.2.200"))

    def test_connection_helpers(self) -> None:
        self.assertEqual(Connection.for_address("192.0.2.1"), Connection("IN", "IP4", "192.0.2.1"))
        self.assertEqual(
            Connection.for_address("2001:db8::1"), Connection("IN", "IP6", "2001:db8::1")
        )
        self.assertTrue(Connection("IN", "IP4", "0.0.0.0").is_unspecified)
        self.assertTrue(Connection("IN", "IP6", "::").is_unspecified)
        self.assertFalse(Connection("IN", "IP4", "192.0.2.1").is_unspecified)

    def test_direction_algebra(self) -> None:
        """reverse() is the peer's view; restrict() keeps what both allow."""
        d = Direction
        self.assertEqual(
            [x.reverse() for x in d], [d.SENDRECV, d.RECVONLY, d.SENDONLY, d.INACTIVE]
        )
        self.assertEqual(d.SENDRECV.restrict(d.RECVONLY), d.RECVONLY)
        self.assertEqual(d.SENDONLY.restrict(d.RECVONLY), d.INACTIVE)
        self.assertEqual(d.SENDONLY.restrict(d.SENDRECV), d.SENDONLY)
        self.assertEqual([(x.sends, x.receives) for x in d], [
            (True, True), (True, False), (False, True), (False, False)])  # fmt: skip
        self.assertEqual(d.of(False, True), d.RECVONLY)


class SerializeTests(SynchronousTestCase):
    def test_build_and_serialize(self) -> None:
        """A model built in code serializes in RFC 4566 §5 order with CRLF."""
        sdp = SessionDescription(
            Origin("-", 7, 8, "IN", "IP6", "2001:db8::5"),
            connection=Connection.for_address("2001:db8::5"),
            media=(
                MediaDescription(
                    "audio", 4000, "RTP/AVP", ("0",),
                    attributes=(Attribute("rtpmap", "0 PCMU/8000"), Attribute("sendrecv")),
                ),
            ),
        )  # fmt: skip
        expected = (
            "v=0\r\no=- 7 8 IN IP6 2001:db8::5\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        )
        self.assertEqual(str(sdp), expected)
        self.assertEqual(bytes(sdp), expected.encode())
        self.assertEqual(parse_sdp(bytes(sdp)), sdp)

    def test_with_version(self) -> None:
        sdp = parse_sdp(fixture("asterisk.sdp"))
        bumped = sdp.with_version(1893254827)
        self.assertEqual(bumped.origin.sess_version, 1893254827)
        self.assertEqual(bumped.with_version(1893254826), sdp)


# -- properties -------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
tokens = st.text(_ALNUM + "!#$%&'*+-.^_`{|}~", min_size=1, max_size=12)
words = st.text(_ALNUM + ".:-_/@[]", min_size=1, max_size=20)  # no whitespace
numbers = st.integers(0, 2**64)
# Free text: anything but the line breaks, NUL, lone surrogates, and trailing
# blanks (which the parser strips on purpose).
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=30
).filter(lambda t: t == t.rstrip(" \t"))
attributes = st.builds(Attribute, tokens, st.none() | texts)
connections = st.builds(Connection, tokens, tokens, words)
bandwidths = st.builds(Bandwidth, tokens, numbers)
others = st.tuples(st.sampled_from("dfghjlnqwxyADEFGHJ"), texts)
repeats = st.lists(words, min_size=3, max_size=5).map(" ".join)
small = {"max_size": 3}


def _media(connected: bool):
    return st.builds(
        MediaDescription,
        media=tokens, port=st.integers(0, 65535),
        proto=st.lists(tokens, min_size=1, max_size=3).map("/".join),
        formats=st.lists(tokens, min_size=1, max_size=5).map(tuple),
        port_count=st.none() | st.integers(0, 8), information=st.none() | texts,
        connections=st.lists(connections, min_size=0 if connected else 1, **small).map(tuple),
        bandwidths=st.lists(bandwidths, **small).map(tuple), key=st.none() | texts,
        attributes=st.lists(attributes, max_size=6).map(tuple),
        other=st.lists(others, **small).map(tuple),
    )  # fmt: skip


@st.composite
def descriptions(draw) -> SessionDescription:
    connection = draw(st.none() | connections)
    return draw(
        st.builds(
            SessionDescription,
            origin=st.builds(Origin, words, numbers, numbers, tokens, tokens, words),
            session_name=texts, connection=st.just(connection),
            timings=st.lists(
                st.builds(Timing, numbers, numbers, st.lists(repeats, **small).map(tuple)),
                min_size=1, **small,
            ).map(tuple),
            attributes=st.lists(attributes, max_size=4).map(tuple),
            media=st.lists(_media(connection is not None), max_size=3).map(tuple),
            information=st.none() | texts, uri=st.none() | texts,
            emails=st.lists(texts, **small).map(tuple), phones=st.lists(texts, **small).map(tuple),
            bandwidths=st.lists(bandwidths, **small).map(tuple),
            time_zones=st.none() | texts, key=st.none() | texts,
            other=st.lists(others, **small).map(tuple),
        )
    )  # fmt: skip


FIXTURES = sorted(p.read_bytes() for p in DATA.glob("*.sdp"))


@st.composite
def mutated(draw) -> bytes:
    """A fixture with a few line- and byte-level mutations."""
    lines = draw(st.sampled_from(FIXTURES)).split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "dup", "swap", "byte", "insert", "cut", "letter"]))
        if kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "byte" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + bytes([draw(st.integers(0, 255))]) + lines[i][k + 1 :]
        elif kind == "insert":
            lines.insert(i, draw(st.binary(max_size=20)))
        elif kind == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif kind == "letter" and lines[i]:
            lines[i] = draw(st.sampled_from(b"vosiuepcbtrzkamy")).to_bytes(1, "big") + lines[i][1:]
    return b"\n".join(lines)


def _exercise(sdp: SessionDescription) -> None:
    """Every helper must cope with whatever the parser accepted."""
    for media in sdp.media:
        media.rtpmaps()
        for fmt in media.formats:
            media.fmtp(fmt)
        (media.ptime, media.maxptime, media.rtcp, sdp.direction_of(media))
        sdp.connection_of(media)


class PropertyTests(SynchronousTestCase):
    @given(descriptions())
    def test_round_trip(self, sdp: SessionDescription) -> None:
        """parse(serialize(x)) == x for every description the model holds."""
        self.assertEqual(parse_sdp(bytes(sdp)), sdp)
        self.assertEqual(parse_sdp(str(sdp)), sdp)

    @given(descriptions())
    def test_serialization_is_crlf_lines(self, sdp: SessionDescription) -> None:
        data = bytes(sdp)
        self.assertTrue(data.endswith(b"\r\n"))
        self.assertEqual(data.count(b"\n"), data.count(b"\r\n"))

    @given(st.binary(max_size=300) | st.text(max_size=300))
    def test_arbitrary_input(self, data) -> None:
        """Nothing but L{SDPParseError} escapes, whatever the input."""
        try:
            _exercise(parse_sdp(data))
        except SDPParseError:
            pass

    @given(mutated())
    def test_mutated_fixtures(self, data: bytes) -> None:
        """Damaged real offers either parse (and then round-trip and serve
        every helper) or raise L{SDPParseError}."""
        try:
            sdp = parse_sdp(data)
        except SDPParseError:
            return
        _exercise(sdp)
        self.assertEqual(parse_sdp(bytes(sdp)), sdp)
