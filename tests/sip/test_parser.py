"""L{roomkit_sip.sip.parse_message}: datagram parsing, eager validation, partials."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import (
    CSeq,
    Request,
    Response,
    SIPParseError,
    SipURI,
    make_response,
    parse_message,
)

HEAD = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0",
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@biloxi.example.com>",
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
    "CSeq: 314159 INVITE",
    "Contact: <sip:alice@pc33.atlanta.example.com>",
    "Content-Type: application/sdp",
)
BODY = b"v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"


def message(
    *lines: str,
    replace: dict[str, str | None] | None = None,
    body: bytes = BODY,
    length: str | None = "auto",
) -> bytes:
    """
    A request built from L{HEAD} (or C{lines}), with header lines replaced or
    dropped by name prefix, and a Content-Length (C{None}: omitted).
    """
    result = []
    for line in lines or HEAD:
        name = line.split(":")[0]
        if replace and name in replace:
            if replace[name] is not None:
                result.append(replace[name])
            continue
        result.append(line)
    if length == "auto":
        length = str(len(body))
    if length is not None:
        result.append(f"Content-Length: {length}")
    return ("\r\n".join(result) + "\r\n\r\n").encode() + body


def rejected(test: SynchronousTestCase, data: bytes, status: int = 400) -> SIPParseError:
    error = test.assertRaises(SIPParseError, parse_message, data)
    test.assertEqual(error.status, status)
    return error


class RequestTests(SynchronousTestCase):
    def test_typical_invite(self) -> None:
        request = parse_message(message())
        assert isinstance(request, Request)
        self.assertEqual((request.method, request.uri), ("INVITE", "sip:bob@biloxi.example.com"))
        self.assertEqual(request.body, BODY)
        self.assertEqual(request.cseq, CSeq(314159, "INVITE"))
        self.assertEqual(request.max_forwards, 70)
        self.assertEqual(request.request_uri, SipURI(user="bob", host="biloxi.example.com"))
        self.assertEqual(len(request.headers), len(HEAD) - 1)  # Content-Length is not stored

    def test_round_trip(self) -> None:
        request = parse_message(message())
        self.assertEqual(parse_message(bytes(request)), request)

    def test_accepts_bytes_like(self) -> None:
        self.assertEqual(parse_message(bytearray(message())), parse_message(message()))
        self.assertEqual(parse_message(memoryview(message())), parse_message(message()))

    def test_compact_forms_and_case(self) -> None:
        data = message(
            "OPTIONS sip:bob@biloxi.example.com SIP/2.0",
            "v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
            "t: <sip:bob@biloxi.example.com>",
            "F: <sip:alice@atlanta.example.com>;tag=1",
            "i: abc@h",
            "cSeQ: 1 OPTIONS",
            "m: <sip:alice@h.example.com>",
            "c: text/plain",
            "k: timer",
            "s: hi",
            length=None,
            body=b"",
        )
        request = parse_message(data.replace(b"\r\n\r\n", b"\r\nl: 0\r\n\r\n"))
        self.assertEqual(
            [name for name, _ in request.headers.items()],
            [
                "Via",
                "To",
                "From",
                "Call-ID",
                "CSeq",
                "Contact",
                "Content-Type",
                "Supported",
                "Subject",
            ],
        )
        self.assertEqual(request.call_id, "abc@h")

    def test_folding(self) -> None:
        # §7.3.1: a line starting with SP or HTAB continues the previous one.
        data = message(
            replace={
                "Contact": "Contact:\r\n  <sip:alice@pc33.atlanta.example.com>\r\n\t;expires=60"
            }
        )
        request = parse_message(data)
        self.assertEqual(
            request.headers.get("Contact"), "<sip:alice@pc33.atlanta.example.com> ;expires=60"
        )
        self.assertEqual(request.contacts[0].params.get("expires"), "60")

    def test_whitespace_around_the_colon(self) -> None:
        request = parse_message(message(replace={"CSeq": "CSeq  \t:   314159 INVITE  "}))
        self.assertEqual(request.headers.get("CSeq"), "314159 INVITE")

    def test_unknown_headers_kept_in_order(self) -> None:
        data = message(replace={"Contact": "X-B: 2\r\nX-A: 1\r\nx-b: 3"})
        request = parse_message(data)
        self.assertEqual(request.headers.get_all("X-B"), ["2", "3"])
        names = [name for name, _ in request.headers.items()]
        self.assertEqual(names[names.index("X-B") :][:3], ["X-B", "X-A", "x-b"])

    def test_empty_header_value(self) -> None:
        request = parse_message(message(replace={"Contact": "Subject:"}))
        self.assertEqual(request.headers.get("Subject"), "")

    def test_leading_crlf_ignored(self) -> None:
        # §7.5
        self.assertEqual(parse_message(b"\r\n\r\n" + message()), parse_message(message()))

    def test_version_is_case_insensitive(self) -> None:
        data = message(replace={"INVITE sip": "INVITE sip:bob@biloxi.example.com sip/2.0"})
        self.assertEqual(parse_message(data).method, "INVITE")

    def test_missing_max_forwards_is_tolerated(self) -> None:
        # RFC 2543 clients (RFC 4475 §3.4.1) send none.
        self.assertIsNone(parse_message(message(replace={"Max-Forwards": None})).max_forwards)

    def test_max_forwards_zero_parses(self) -> None:
        # Answering 483 is policy (§16.3, RFC 4475 §3.3.11).
        self.assertEqual(
            parse_message(message(replace={"Max-Forwards": "Max-Forwards: 0"})).max_forwards, 0
        )

    def test_unknown_request_uri_scheme_parses(self) -> None:
        # Answering 416 is policy (§8.2.2.1).
        request = parse_message(message(replace={"INVITE sip": "INVITE urn:service:sos SIP/2.0"}))
        self.assertEqual(request.request_uri.scheme, "urn")

    def test_escaped_request_uri_user(self) -> None:
        data = message(replace={"INVITE sip": "INVITE sip:%62ob@biloxi.example.com SIP/2.0"})
        self.assertEqual(
            parse_message(data).request_uri, SipURI(user="bob", host="biloxi.example.com")
        )

    def test_request_uri_with_ipv6(self) -> None:
        data = message(replace={"INVITE sip": "INVITE sip:bob@[2001:db8::1]:5070 SIP/2.0"})
        uri = parse_message(data).request_uri
        assert isinstance(uri, SipURI)
        self.assertEqual((uri.host, uri.port), ("2001:db8::1", 5070))


class ContentLengthTests(SynchronousTestCase):
    """§18.3 and §20.14 over UDP."""

    def test_missing_means_rest_of_datagram(self) -> None:
        self.assertEqual(parse_message(message(length=None)).body, BODY)

    def test_extra_octets_are_discarded(self) -> None:
        request = parse_message(message(length="3"))
        self.assertEqual(request.body, BODY[:3])

    def test_larger_than_the_datagram(self) -> None:
        error = rejected(self, message(length=str(len(BODY) + 1)))
        self.assertIsNotNone(error.partial)

    def test_huge(self) -> None:
        rejected(self, message(length="9" * 5000))

    def test_zero(self) -> None:
        self.assertEqual(parse_message(message(length="0")).body, b"")

    def test_leading_zeros(self) -> None:
        self.assertEqual(parse_message(message(length="0003")).body, BODY[:3])

    def test_negative_or_non_numeric(self) -> None:
        for value in ("-1", "abc", "1.0", "", "0x10", "١"):
            with self.subTest(value=value):
                rejected(self, message(length=value))

    def test_more_than_one(self) -> None:
        data = message(replace={"Contact": "l: 3"})
        rejected(self, data)

    def test_compact_form(self) -> None:
        data = message(length=None).replace(b"\r\n\r\n", b"\r\nl:3\r\n\r\n", 1)
        self.assertEqual(parse_message(data).body, BODY[:3])

    def test_second_message_in_the_datagram_is_ignored(self) -> None:
        first = message(body=b"", length="0")
        request = parse_message(first + b"\r\n" + message())
        self.assertEqual(request.body, b"")
        self.assertEqual(parse_message(bytes(request)), request)


class StartLineTests(SynchronousTestCase):
    def test_request_line_needs_single_spaces(self) -> None:
        for line in (
            "INVITE  sip:bob@biloxi.example.com SIP/2.0",
            "INVITE sip:bob@biloxi.example.com  SIP/2.0",
            "INVITE sip:bob@biloxi.example.com SIP/2.0 ",
            " INVITE sip:bob@biloxi.example.com SIP/2.0",
            "INVITE\tsip:bob@biloxi.example.com SIP/2.0",
            "INVITE sip:bob@biloxi.example.com",
            "INVITE",
            "",
        ):
            with self.subTest(line=line):
                rejected(self, message(replace={"INVITE sip": line}))

    def test_method_must_be_a_token(self) -> None:
        data = message(
            replace={
                "INVITE sip": "INV@ITE sip:bob@biloxi.example.com SIP/2.0",
                "CSeq": "CSeq: 1 INVITE",
            }
        )
        rejected(self, data)

    def test_request_uri_must_parse(self) -> None:
        for uri in ("<sip:bob@biloxi.example.com>", "sip:bob@", "sip:2001:db8::1", "bob"):
            with self.subTest(uri=uri):
                error = rejected(self, message(replace={"INVITE sip": f"INVITE {uri} SIP/2.0"}))
                self.assertEqual(error.detail, "malformed Request-URI")

    def test_request_uri_headers_not_allowed(self) -> None:
        # §19.1.1 Table 1; RFC 4475 §3.1.2.11.
        rejected(
            self,
            message(replace={"INVITE sip": "INVITE sip:bob@biloxi.example.com?Subject=x SIP/2.0"}),
        )

    def test_other_versions_get_505(self) -> None:
        for version in ("SIP/3.0", "SIP/1.0", "SIP/2.1", "SIP/20.0"):
            with self.subTest(version=version):
                error = rejected(
                    self, message(replace={"INVITE sip": f"INVITE sip:b@h {version}"}), 505
                )
                self.assertEqual(error.reason, "Version Not Supported")
                self.assertIsNotNone(error.partial)

    def test_equivalent_version_spellings(self) -> None:
        self.assertEqual(
            parse_message(message(replace={"INVITE sip": "INVITE sip:b@h SIP/02.00"})).method,
            "INVITE",
        )

    def test_malformed_versions_get_400(self) -> None:
        for version in ("SIP/2", "HTTP/1.1", "SIP/2.0a", "SIP/x.y"):
            with self.subTest(version=version):
                rejected(self, message(replace={"INVITE sip": f"INVITE sip:b@h {version}"}))


class HeaderSectionTests(SynchronousTestCase):
    def test_unterminated(self) -> None:
        rejected(self, b"OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n")

    def test_bare_lf_or_cr(self) -> None:
        for bad in (b"\n", b"\r"):
            with self.subTest(bad=bad):
                data = message().replace(b"\r\nMax-Forwards", bad + b"Max-Forwards", 1)
                rejected(self, data)

    def test_line_without_colon(self) -> None:
        rejected(self, message(replace={"Contact": "Contact <sip:alice@h>"}))

    def test_name_not_a_token(self) -> None:
        for line in ("Max Forwards: 70", ": 70", "X(1): 2", "Ünïcode: x"):
            with self.subTest(line=line):
                rejected(self, message(replace={"Contact": line}))

    def test_fold_before_first_header(self) -> None:
        rejected(self, message(replace={"Via": " Via: SIP/2.0/UDP h;branch=z9hG4bK1"}))

    def test_detail_never_echoes_input(self) -> None:
        error = rejected(self, message(replace={"Contact": "Secret-Name-42 <x>"}))
        self.assertNotIn("Secret", error.detail)


class EagerValidationTests(SynchronousTestCase):
    def test_mandatory_fields(self) -> None:
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            with self.subTest(missing=name):
                error = rejected(self, message(replace={name: None}))
                self.assertIn(name, error.detail)
            with self.subTest(repeated=name):
                line = next(line for line in HEAD if line.startswith(name + ":"))
                if name != "Via":
                    rejected(self, message(replace={name: f"{line}\r\n{line}"}))

    def test_malformed_fields(self) -> None:
        bad = {
            "Via": "Via: SIP/2.0/UDP",
            "From": "From: Alice, Smith <sip:alice@atlanta.example.com>;tag=1",
            "To": "To: <sip:bob@biloxi.example.com",
            "Call-ID": "Call-ID: a b",
            "CSeq": "CSeq: 4294967296 INVITE",
            "Max-Forwards": "Max-Forwards: 256",
        }
        for name, line in bad.items():
            with self.subTest(name=name):
                rejected(self, message(replace={name: line}))

    def test_repeated_max_forwards(self) -> None:
        rejected(self, message(replace={"Max-Forwards": "Max-Forwards: 70\r\nMax-Forwards: 69"}))

    def test_cseq_method_must_match(self) -> None:
        # §8.1.1.5; RFC 4475 §3.1.2.17.
        error = rejected(self, message(replace={"CSeq": "CSeq: 1 OPTIONS"}))
        self.assertIn("CSeq method", error.detail)

    def test_lazy_fields_do_not_block_parsing(self) -> None:
        request = parse_message(
            message(
                replace={"Contact": "Contact: sip:a@h?x=y", "Content-Type": "Content-Type: sdp"}
            )
        )
        self.assertRaises(SIPParseError, getattr, request, "contacts")
        self.assertRaises(SIPParseError, getattr, request, "content_type")


class PartialTests(SynchronousTestCase):
    def test_partial_holds_the_readable_fields(self) -> None:
        error = rejected(self, message(replace={"Max-Forwards": "Max-Forwards: many"}))
        partial = error.partial
        assert partial is not None
        self.assertEqual((partial.method, partial.uri), ("INVITE", "sip:bob@biloxi.example.com"))
        self.assertEqual(
            [name for name, _ in partial.headers.items()], ["Via", "To", "From", "Call-ID", "CSeq"]
        )
        self.assertEqual(partial.top_via.branch, "z9hG4bK776asdhds")
        response = make_response(partial, error.status, error.reason, to_tag="x")
        self.assertEqual(response.to.tag, "x")
        self.assertEqual(parse_message(bytes(response)), response)

    def test_partial_skips_malformed_fields(self) -> None:
        error = rejected(self, message(replace={"From": "From: <sip:alice@atlanta.example.com"}))
        assert error.partial is not None
        self.assertNotIn("From", error.partial.headers)
        self.assertIn("To", error.partial.headers)

    def test_partial_of_a_malformed_start_line(self) -> None:
        error = rejected(
            self, message(replace={"INVITE sip": "INVITE  sip:bob@biloxi.example.com  SIP/2.0"})
        )
        assert error.partial is not None
        self.assertEqual(error.partial.method, "INVITE")

    def test_partial_keeps_every_readable_via(self) -> None:
        data = message(
            replace={
                "Via": "Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2"
                "\r\nv: SIP/2.0/UDP c",
                "CSeq": "CSeq: x",
            }
        )
        error = rejected(self, data)
        assert error.partial is not None
        self.assertEqual([via.host for via in error.partial.vias], ["a", "b", "c"])

    def test_top_via_with_bad_parameters_still_routes(self) -> None:
        # RFC 4475 §3.1.2.1 expects a 400: keep sent-protocol and sent-by.
        error = rejected(self, message(replace={"Via": "Via: SIP/2.0/UDP 192.0.2.15:5062;;,;,,"}))
        assert error.partial is not None
        self.assertEqual(error.partial.top_via.sent_by, ("192.0.2.15", 5062))

    def test_no_partial_without_a_readable_via(self) -> None:
        for via in (None, "Via: garbage", "Via: SIP/2.0/UDP"):
            with self.subTest(via=via):
                error = rejected(self, message(replace={"Via": via, "CSeq": "CSeq: x"}))
                self.assertIsNone(error.partial)

    def test_only_the_top_via_decides(self) -> None:
        data = message(replace={"Via": "Via: garbage\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2"})
        self.assertIsNone(rejected(self, data).partial)

    def test_no_partial_for_ack(self) -> None:
        # §17.2.1: a response is never sent to an ACK.
        data = message(
            replace={
                "INVITE sip": "ACK sip:bob@biloxi.example.com SIP/2.0",
                "CSeq": "CSeq: 1 INVITE",
            }
        )
        self.assertIsNone(rejected(self, data).partial)

    def test_no_partial_for_responses(self) -> None:
        data = message(replace={"INVITE sip": "SIP/2.0 200 OK", "CSeq": "CSeq: x"})
        self.assertIsNone(rejected(self, data).partial)

    def test_no_partial_for_garbage(self) -> None:
        for data in (b"", b"\r\n\r\n", b"\x00\xff" * 20, b"hello world"):
            with self.subTest(data=data):
                self.assertIsNone(rejected(self, data).partial)


class ResponseTests(SynchronousTestCase):
    def response(self, status_line: str, **replace: str | None) -> bytes:
        lines = [status_line, *HEAD[1:]]
        return message(*lines, replace=replace, body=b"", length="0")

    def test_typical(self) -> None:
        response = parse_message(self.response("SIP/2.0 180 Ringing"))
        assert isinstance(response, Response)
        self.assertEqual((response.status, response.reason), (180, "Ringing"))
        self.assertEqual(response.cseq, CSeq(314159, "INVITE"))
        self.assertEqual(parse_message(bytes(response)), response)

    def test_reason_phrase_with_spaces_and_utf8(self) -> None:
        response = parse_message(self.response("SIP/2.0 200 = 2**3 * 5**2 но сто двадцать"))
        self.assertEqual(response.reason, "= 2**3 * 5**2 но сто двадцать")

    def test_empty_reason(self) -> None:
        self.assertEqual(parse_message(self.response("SIP/2.0 100 ")).reason, "")
        self.assertEqual(parse_message(self.response("SIP/2.0 100")).reason, "")

    def test_cseq_method_is_free(self) -> None:
        response = parse_message(self.response("SIP/2.0 200 OK", CSeq="CSeq: 2 BYE"))
        self.assertEqual(response.cseq.method, "BYE")

    def test_status_codes(self) -> None:
        for line in (
            "SIP/2.0 99 Low",
            "SIP/2.0 700 High",
            "SIP/2.0 4294967301 Big",
            "SIP/2.0 2OO OK",
            "SIP/2.0",
        ):
            with self.subTest(line=line):
                self.assertIsNone(rejected(self, self.response(line)).partial)

    def test_bad_version(self) -> None:
        rejected(self, self.response("SIP/3.0 200 OK"), 505)

    def test_mandatory_fields(self) -> None:
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            with self.subTest(name=name):
                rejected(self, self.response("SIP/2.0 200 OK", **{name: None}))

    def test_max_forwards_is_not_checked_in_responses(self) -> None:
        response = parse_message(
            self.response("SIP/2.0 200 OK", **{"Max-Forwards": "Max-Forwards: x"})
        )
        self.assertRaises(SIPParseError, getattr, response, "max_forwards")
