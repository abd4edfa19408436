"""L{roomkit_sip.sip.framing.StreamFramer}: SIP over a byte stream (RFC 3261 §18.3)."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import SIPFramingError, SIPParseError, StreamFramer, parse_message
from roomkit_sip.sip.framing import PING, PONG


def request(n: int, body: bytes = b"", length: str | None = None) -> bytes:
    length = str(len(body)) if length is None else length
    return (
        f"MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK{n}\r\n"
        f"Max-Forwards: 70\r\n"
        f"To: <sip:bob@biloxi.example.com>\r\n"
        f"From: <sip:alice@atlanta.example.com>;tag={n}\r\n"
        f"Call-ID: {n}@pc33\r\n"
        f"CSeq: {n} MESSAGE\r\n"
        f"Content-Type: text/plain\r\n"
        f"Content-Length: {length}\r\n"
        f"\r\n"
    ).encode() + body


class FramingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.framer = StreamFramer()

    def test_whole_message(self) -> None:
        data = request(1, b"hello")
        self.assertEqual(self.framer.feed(data), [data])
        self.assertEqual(self.framer.buffered, 0)
        self.assertEqual(parse_message(data).body, b"hello")

    def test_several_messages_in_one_chunk(self) -> None:
        data = [request(1, b"a"), request(2, b""), request(3, b"ccc")]
        self.assertEqual(self.framer.feed(b"".join(data)), data)

    def test_byte_by_byte(self) -> None:
        data = [request(1, b"hello\r\n\r\nworld"), request(2, b"")]
        stream = b"".join(data)
        out = []
        for i in range(len(stream)):
            out += self.framer.feed(stream[i : i + 1])
        self.assertEqual(out, data)
        self.assertEqual(self.framer.buffered, 0)

    def test_body_may_contain_an_empty_line(self) -> None:
        data = request(1, b"\r\n\r\n\r\n")
        self.assertEqual(self.framer.feed(data[:-2]), [])
        self.assertEqual(self.framer.feed(data[-2:]), [data])

    def test_waits_for_the_body(self) -> None:
        data = request(1, b"0123456789")
        self.assertEqual(self.framer.feed(data[:-4]), [])
        self.assertEqual(self.framer.buffered, len(data) - 4)
        self.assertEqual(self.framer.feed(data[-4:] + b"MESS"), [data])
        self.assertEqual(self.framer.buffered, 4)

    def test_compact_and_folded_content_length(self) -> None:
        data = request(1, b"abc").replace(b"Content-Length: 3", b"l :\r\n 3")
        self.assertEqual(self.framer.feed(data + request(2)), [data, request(2)])

    def test_crlf_between_messages_is_ignored(self) -> None:
        # §7.5
        out = self.framer.feed(b"\r\n" + request(1) + b"\r\n" + request(2))
        self.assertEqual(out, [request(1), request(2)])

    def test_keepalive_ping(self) -> None:
        # RFC 5626 §3.5.1: CRLFCRLF is a ping, answered by CRLF.
        out = self.framer.feed(PING + request(1) + PING + PING)
        self.assertEqual(out, [PING, request(1), PING, PING])
        self.assertEqual(PONG, b"\r\n")

    def test_ping_split_across_reads(self) -> None:
        self.assertEqual(self.framer.feed(b"\r\n"), [])
        self.assertEqual(self.framer.feed(b"\r"), [])
        self.assertEqual(self.framer.feed(b"\n"), [PING])

    def test_lone_crlf_then_a_message(self) -> None:
        self.assertEqual(self.framer.feed(b"\r\n"), [])
        self.assertEqual(self.framer.feed(request(1)), [request(1)])


class FramingErrorTests(SynchronousTestCase):
    def test_content_length_is_mandatory(self) -> None:
        data = request(1).replace(b"Content-Length: 0\r\n", b"")
        framer = StreamFramer()
        error = self.assertRaises(SIPFramingError, framer.feed, data)
        self.assertIsInstance(error, SIPParseError)
        self.assertEqual(error.status, 400)
        assert error.partial is not None
        self.assertEqual(error.partial.call_id, "1@pc33")
        self.assertEqual(framer.buffered, 0)

    def test_the_framer_stays_broken(self) -> None:
        framer = StreamFramer()
        first = self.assertRaises(SIPFramingError, framer.feed, request(1, length="x"))
        second = self.assertRaises(SIPFramingError, framer.feed, request(2))
        self.assertIs(first, second)

    def test_malformed_content_length(self) -> None:
        for value in ("-1", "abc", "", "1 2"):
            with self.subTest(value=value):
                error = self.assertRaises(
                    SIPFramingError, StreamFramer().feed, request(1, length=value)
                )
                self.assertEqual(error.status, 400)

    def test_repeated_content_length(self) -> None:
        data = request(1).replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 0")
        self.assertEqual(self.assertRaises(SIPFramingError, StreamFramer().feed, data).status, 400)

    def test_header_section_too_large(self) -> None:
        framer = StreamFramer(max_header_bytes=1024)
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\n")
        error = self.assertRaises(SIPFramingError, framer.feed, b"X-Pad: " + b"a" * 1100)
        self.assertEqual(error.status, 513)
        self.assertIsNone(error.partial)

    def test_complete_header_section_too_large(self) -> None:
        data = request(1).replace(b"Max-Forwards", b"X-Pad: " + b"a" * 600 + b"\r\nMax-Forwards")
        error = self.assertRaises(SIPFramingError, StreamFramer(max_header_bytes=512).feed, data)
        self.assertEqual(error.status, 513)

    def test_body_too_large(self) -> None:
        framer = StreamFramer(max_body_bytes=100)
        error = self.assertRaises(SIPFramingError, framer.feed, request(1, length="101"))
        self.assertEqual(error.status, 513)
        self.assertIsNotNone(error.partial)
        self.assertEqual(
            StreamFramer(max_body_bytes=100).feed(request(1, b"x" * 100)), [request(1, b"x" * 100)]
        )

    def test_unterminated_garbage_is_bounded(self) -> None:
        framer = StreamFramer(max_header_bytes=4096)
        for _ in range(4):
            framer.feed(b"z" * 1000)
        self.assertRaises(SIPFramingError, framer.feed, b"z" * 1000)
