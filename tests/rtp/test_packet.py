"""Tests for L{roomkit_sip.rtp.packet}."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.rtp import errors
from roomkit_sip.rtp.packet import (
    RTPPacket,
    RTPParseError,
    build_rtp,
    is_rtcp,
    parse_rtp,
    seq_add,
    seq_diff,
    seq_newer,
    ts_add,
    ts_diff,
    ts_newer,
)

# V=2, no P/X/CC; M=1, PT=0; seq 1; ts 160; SSRC 0xdeadbeef; 3 octets of payload.
SIMPLE = b"\x80\x80\x00\x01\x00\x00\x00\xa0\xde\xad\xbe\xef" + b"abc"


class ParseTests(SynchronousTestCase):
    def assertInvalid(self, data: bytes, reason: str) -> None:
        err = self.assertRaises(RTPParseError, parse_rtp, data)
        self.assertEqual(err.reason, reason)

    def test_fixed_header(self) -> None:
        self.assertEqual(
            parse_rtp(SIMPLE), RTPPacket(True, 0, 1, 160, 0xDEADBEEF, b"abc", (), None)
        )

    def test_empty_payload(self) -> None:
        self.assertEqual(parse_rtp(SIMPLE[:12]).payload, b"")

    def test_marker_and_payload_type_share_an_octet(self) -> None:
        packet = parse_rtp(b"\x80\x65" + SIMPLE[2:])
        self.assertEqual((packet.marker, packet.payload_type), (False, 101))

    def test_csrcs(self) -> None:
        data = b"\x82\x00\x00\x01\x00\x00\x00\xa0\x00\x00\x00\x09"
        data += b"\x00\x00\x00\x01\x00\x00\x00\x02" + b"pay"
        packet = parse_rtp(data)
        self.assertEqual((packet.csrcs, packet.payload), ((1, 2), b"pay"))

    def test_extension(self) -> None:
        # §5.3.1: profile 0xBEDE, one 32-bit word of extension data.
        data = b"\x90\x00\x00\x01\x00\x00\x00\xa0\x00\x00\x00\x09"
        data += b"\xbe\xde\x00\x01" + b"\x10\xff\x00\x00" + b"pay"
        packet = parse_rtp(data)
        self.assertEqual(packet.extension, (0xBEDE, b"\x10\xff\x00\x00"))
        self.assertEqual(packet.payload, b"pay")

    def test_padding_removed(self) -> None:
        data = b"\xa0" + SIMPLE[1:] + b"\x00\x00\x03"
        self.assertEqual(parse_rtp(data).payload, b"abc")

    def test_padding_may_take_whole_payload(self) -> None:
        data = b"\xa0" + SIMPLE[1:12] + b"\x00\x00\x03"
        self.assertEqual(parse_rtp(data).payload, b"")

    def test_zero_padding_count_invalid(self) -> None:
        self.assertInvalid(b"\xa0" + SIMPLE[1:] + b"\x00", errors.BAD_PADDING)

    def test_padding_longer_than_payload_invalid(self) -> None:
        self.assertInvalid(b"\xa0" + SIMPLE[1:12] + b"\x00\x00\x04", errors.BAD_PADDING)

    def test_padding_cannot_eat_the_extension(self) -> None:
        data = b"\xb0" + SIMPLE[1:12] + b"\xbe\xde\x00\x01\x00\x00\x00\x02"
        self.assertInvalid(data, errors.BAD_PADDING)

    def test_truncated_fixed_header(self) -> None:
        for size in range(12):
            self.assertInvalid(SIMPLE[:size], errors.TRUNCATED)

    def test_truncated_csrc_list(self) -> None:
        self.assertInvalid(b"\x83" + SIMPLE[1:12] + bytes(8), errors.TRUNCATED)

    def test_truncated_extension_header(self) -> None:
        self.assertInvalid(b"\x90" + SIMPLE[1:12] + b"\xbe\xde", errors.TRUNCATED)

    def test_extension_longer_than_packet(self) -> None:
        data = b"\x90" + SIMPLE[1:12] + b"\xbe\xde\x00\x02" + bytes(7)
        self.assertInvalid(data, errors.TRUNCATED)

    def test_extension_after_csrcs_bounds(self) -> None:
        data = b"\x91" + SIMPLE[1:12] + bytes(4) + b"\xbe\xde\x00\x01" + bytes(3)
        self.assertInvalid(data, errors.TRUNCATED)

    def test_version(self) -> None:
        for first in (0x00, 0x40, 0xC0):
            self.assertInvalid(bytes((first,)) + SIMPLE[1:], errors.BAD_VERSION)

    def test_rtcp_on_rtp_port(self) -> None:
        # RFC 5761 §4: second octet 192-223 is RTCP (SR 200 ... APP 204 among them).
        for octet in (192, 200, 201, 202, 203, 204, 223):
            data = b"\x80" + bytes((octet,)) + SIMPLE[2:]
            self.assertTrue(is_rtcp(data))
            self.assertInvalid(data, errors.RTCP_ON_RTP_PORT)
        for octet in (0, 96, 127, 191, 224, 255):
            data = b"\x80" + bytes((octet,)) + SIMPLE[2:]
            self.assertFalse(is_rtcp(data))
            self.assertEqual(parse_rtp(data).payload_type, octet & 0x7F)

    def test_short_rtcp_on_rtp_port(self) -> None:
        # An RR without report blocks is 8 octets, shorter than an RTP header.
        self.assertInvalid(b"\x80\xc9\x00\x01\x00\x00\x00\x01", errors.RTCP_ON_RTP_PORT)
        self.assertInvalid(b"\x40\xc9\x00\x01\x00\x00\x00\x01", errors.TRUNCATED)

    def test_is_rtcp_short(self) -> None:
        self.assertFalse(is_rtcp(b"\x80"))

    def test_errors_are_value_errors_with_a_reason(self) -> None:
        err = self.assertRaises(ValueError, parse_rtp, b"")
        self.assertIsInstance(err, errors.MediaParseError)
        self.assertEqual(err.reason, errors.TRUNCATED)
        self.assertIn("truncated", str(err))


class BuildTests(SynchronousTestCase):
    def test_known_bytes(self) -> None:
        self.assertEqual(build_rtp(0, 1, 160, 0xDEADBEEF, b"abc", marker=True), SIMPLE)

    def test_round_trip_every_field(self) -> None:
        data = build_rtp(
            96,
            65535,
            2**32 - 1,
            7,
            b"payload",
            marker=True,
            csrcs=(1, 2, 3),
            extension=(0x1000, b"12345678"),
            padding=5,
        )
        self.assertEqual(len(data) % 4, 0)
        packet = parse_rtp(data)
        expected = RTPPacket(
            True, 96, 65535, 2**32 - 1, 7, b"payload", (1, 2, 3), (0x1000, b"12345678")
        )
        self.assertEqual(packet, expected)
        self.assertEqual(parse_rtp(packet.to_bytes()), packet)

    def test_padding_octets(self) -> None:
        data = build_rtp(0, 1, 160, 0xDEADBEEF, b"abc", marker=True, padding=3)
        self.assertEqual(data, b"\xa0" + SIMPLE[1:] + b"\x00\x00\x03")

    def test_invalid_fields(self) -> None:
        bad = [
            dict(payload_type=128),
            dict(payload_type=-1),
            dict(sequence=65536),
            dict(timestamp=2**32),
            dict(ssrc=-1),
            dict(csrcs=tuple(range(16))),
            dict(extension=(1, b"abc")),
            dict(padding=256),
            dict(padding=-1),
        ]
        for change in bad:
            args = dict(payload_type=0, sequence=0, timestamp=0, ssrc=0, payload=b"")
            args.update(change)
            self.assertRaises(ValueError, build_rtp, **args)


class ArithmeticTests(SynchronousTestCase):
    def test_seq_add_wraps(self) -> None:
        self.assertEqual(seq_add(65535, 1), 0)
        self.assertEqual(seq_add(0, -1), 65535)
        self.assertEqual(seq_add(65000, 1000), 464)

    def test_seq_diff_is_signed_and_short(self) -> None:
        self.assertEqual(seq_diff(0, 65535), 1)
        self.assertEqual(seq_diff(65535, 0), -1)
        self.assertEqual(seq_diff(5, 5), 0)
        self.assertEqual(seq_diff(32767, 0), 32767)
        self.assertEqual(seq_diff(32768, 0), -32768)

    def test_seq_newer(self) -> None:
        self.assertTrue(seq_newer(0, 65535))
        self.assertFalse(seq_newer(65535, 0))
        self.assertFalse(seq_newer(7, 7))
        self.assertTrue(seq_newer(100, 99))
        self.assertFalse(seq_newer(32768, 0))
        self.assertFalse(seq_newer(0, 32768))

    def test_ts_wraps(self) -> None:
        self.assertEqual(ts_add(2**32 - 1, 1), 0)
        self.assertEqual(ts_diff(0, 2**32 - 1), 1)
        self.assertEqual(ts_diff(2**32 - 160, 160), -320)
        self.assertTrue(ts_newer(0, 2**32 - 1))
        self.assertFalse(ts_newer(2**32 - 1, 0))
        self.assertFalse(ts_newer(9, 9))
