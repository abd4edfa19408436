"""L{roomkit_sip.sip.message}: the message model, serialisation, make_response."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import (
    Address,
    CSeq,
    Headers,
    Request,
    Response,
    SIPParseError,
    SipURI,
    TelURI,
    Via,
    make_response,
    parse_message,
    serialize,
)


def invite(**extra: str) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport"),
            ("Via", "SIP/2.0/UDP proxy.atlanta.example.com;branch=z9hG4bK1;received=192.0.2.9"),
            ("Max-Forwards", "70"),
            ("To", "Bob <sip:bob@biloxi.example.com>"),
            ("From", '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'),
            ("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com"),
            ("CSeq", "314159 INVITE"),
            ("Contact", "<sip:alice@pc33.atlanta.example.com>"),
            ("Content-Type", "application/sdp"),
            *extra.items(),
        ]
    )
    return Request("INVITE", "sip:bob@biloxi.example.com", headers, b"v=0\r\n")


class AccessorTests(SynchronousTestCase):
    def test_typed_accessors(self) -> None:
        request = invite()
        self.assertEqual(request.call_id, "a84b4c76e66710@pc33.atlanta.example.com")
        self.assertEqual(request.cseq, CSeq(314159, "INVITE"))
        self.assertEqual(
            [via.host for via in request.vias],
            ["pc33.atlanta.example.com", "proxy.atlanta.example.com"],
        )
        self.assertEqual(request.top_via.branch, "z9hG4bK776asdhds")
        self.assertEqual(request.from_.tag, "1928301774")
        self.assertEqual(request.from_.display_name, "Alice")
        self.assertIsNone(request.to.tag)
        self.assertEqual(request.to.uri, SipURI(user="bob", host="biloxi.example.com"))
        self.assertEqual(request.contacts, [Address(None, "sip:alice@pc33.atlanta.example.com")])
        self.assertEqual(request.max_forwards, 70)
        self.assertEqual(request.content_type, "application/sdp")
        self.assertEqual(request.request_uri, SipURI(user="bob", host="biloxi.example.com"))

    def test_absent_optional_fields(self) -> None:
        request = Request("OPTIONS", "tel:+1234", [("Call-ID", "x")])
        self.assertIsNone(request.max_forwards)
        self.assertIsNone(request.content_type)
        self.assertEqual(request.contacts, [])
        self.assertEqual(request.request_uri, TelURI("+1234"))

    def test_uri_objects_are_written_out(self) -> None:
        request = Request("OPTIONS", SipURI(user="bob", host="example.com"))  # type: ignore[arg-type]
        self.assertEqual(request.uri, "sip:bob@example.com")

    def test_contact_star(self) -> None:
        self.assertEqual(Request("REGISTER", "sip:r.example.com", [("Contact", "*")]).contacts, [])

    def test_contact_list(self) -> None:
        request = Request(
            "REGISTER",
            "sip:r.example.com",
            [
                ("m", '"A, B" <sip:a@h1.example.com>;q=0.5, <sip:b@h2.example.com>'),
                ("Contact", "sip:c@h3.example.com"),
            ],
        )
        self.assertEqual(
            [(c.display_name, str(c.uri)) for c in request.contacts],
            [
                ("A, B", "sip:a@h1.example.com"),
                (None, "sip:b@h2.example.com"),
                (None, "sip:c@h3.example.com"),
            ],
        )

    def test_missing_mandatory_fields(self) -> None:
        request = Request("OPTIONS", "sip:x@example.com")
        for accessor in ("call_id", "cseq", "vias", "top_via", "from_", "to"):
            with self.subTest(accessor=accessor):
                error = self.assertRaises(SIPParseError, getattr, request, accessor)
                self.assertEqual(error.status, 400)
                self.assertIn("missing", error.detail)

    def test_repeated_single_valued_fields(self) -> None:
        request = Request(
            "OPTIONS",
            "sip:x@example.com",
            [("Call-ID", "a"), ("i", "b"), ("Max-Forwards", "1"), ("Max-Forwards", "2")],
        )
        self.assertRaises(SIPParseError, getattr, request, "call_id")
        self.assertRaises(SIPParseError, getattr, request, "max_forwards")

    def test_malformed_lazy_fields_raise_on_access(self) -> None:
        request = invite(Contact="sip:a@b.example.com?x=y")
        request.headers.set("Content-Type", "sdp")
        error = self.assertRaises(SIPParseError, getattr, request, "contacts")
        self.assertEqual(error.status, 400)
        self.assertTrue(error.detail.startswith("Contact:"))
        self.assertRaises(SIPParseError, getattr, request, "content_type")

    def test_malformed_request_uri(self) -> None:
        self.assertRaises(SIPParseError, getattr, Request("INVITE", "sip:a b"), "request_uri")

    def test_cache_follows_header_changes(self) -> None:
        request = invite()
        self.assertEqual(request.cseq.seq, 314159)
        request.headers.set("CSeq", "314160 INVITE")
        self.assertEqual(request.cseq.seq, 314160)
        request.headers.add("Via", "SIP/2.0/TCP top.example.com;branch=z9hG4bKnew", first=True)
        self.assertEqual(request.top_via.host, "top.example.com")
        self.assertEqual(len(request.vias), 3)

    def test_request_uri_follows_uri_changes(self) -> None:
        request = invite()
        self.assertEqual(request.request_uri, SipURI(user="bob", host="biloxi.example.com"))
        request.uri = "sip:carol@chicago.example.com"
        self.assertEqual(request.request_uri, SipURI(user="carol", host="chicago.example.com"))

    def test_vias_is_a_fresh_list(self) -> None:
        request = invite()
        request.vias.clear()
        self.assertEqual(len(request.vias), 2)


class ValueTests(SynchronousTestCase):
    def test_compared_by_value(self) -> None:
        self.assertEqual(invite(), invite())
        self.assertNotEqual(invite(), invite(Subject="x"))
        other = invite()
        other.body = b""
        self.assertNotEqual(invite(), other)
        self.assertEqual(
            Response(200, "OK", [("To", "<sip:a@b>")]),
            Response(200, "OK", Headers([("t", "<sip:a@b>")])),
        )
        self.assertNotEqual(Response(200, "OK"), Response(200, "Okay"))

    def test_cache_does_not_affect_equality(self) -> None:
        a, b = invite(), invite()
        a.cseq, a.request_uri  # noqa: B018
        self.assertEqual(a, b)

    def test_copy_is_independent(self) -> None:
        request = invite()
        copy = request.copy()
        self.assertEqual(copy, request)
        copy.headers.add("Subject", "x")
        self.assertNotIn("Subject", request.headers)
        response = Response(180, "Ringing", [("Call-ID", "x")])
        self.assertEqual(response.copy(), response)
        self.assertIsNot(response.copy().headers, response.headers)


class SerializeTests(SynchronousTestCase):
    def test_wire_format(self) -> None:
        request = Request(
            "OPTIONS",
            "sip:x@example.com",
            [("v", "SIP/2.0/UDP h.example.com;branch=z9hG4bK1"), ("Subject", "ä")],
            b"hello",
        )
        self.assertEqual(
            serialize(request),
            b"OPTIONS sip:x@example.com SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
            b"Subject: \xc3\xa4\r\n"
            b"Content-Length: 5\r\n"
            b"\r\n"
            b"hello",
        )
        self.assertEqual(bytes(request), serialize(request))

    def test_response_wire_format(self) -> None:
        self.assertEqual(
            bytes(Response(100, "", [("Call-ID", "x")])),
            b"SIP/2.0 100 \r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n",
        )

    def test_content_length_always_matches_the_body(self) -> None:
        message = parse_message(
            b"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: c\r\n"
            b"CSeq: 1 OPTIONS\r\nl: 3\r\n\r\nabc"
        )
        self.assertNotIn("Content-Length", message.headers)
        message.body = b"longer body"
        self.assertTrue(bytes(message).endswith(b"Content-Length: 11\r\n\r\nlonger body"))

    def test_undecodable_octets_survive(self) -> None:
        data = (
            b"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            b'From: "\xff\xfe" <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\n'
            b"Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        message = parse_message(data)
        self.assertEqual(bytes(message), data)

    def test_refuses_unwritable_start_lines(self) -> None:
        self.assertRaises(ValueError, serialize, Request("IN VITE", "sip:x@example.com"))
        self.assertRaises(
            ValueError, serialize, Request("INVITE", "sip:x@example.com SIP/2.0\r\nX:")
        )
        self.assertRaises(ValueError, serialize, Request("INVITE", ""))
        self.assertRaises(ValueError, serialize, Response(99, "Low"))
        self.assertRaises(ValueError, serialize, Response(700, "High"))
        self.assertRaises(ValueError, serialize, Response(200, "OK\r\nX: y"))


class MakeResponseTests(SynchronousTestCase):
    def test_copies_per_rfc3261_8_2_6_2(self) -> None:
        request = invite(Subject="not copied", Timestamp="54")
        response = make_response(request, 180, to_tag="a6c85cf")
        self.assertEqual((response.status, response.reason), (180, "Ringing"))
        self.assertEqual(response.headers.rows("Via"), request.headers.rows("Via"))
        self.assertEqual(response.headers.get("From"), request.headers.get("From"))
        self.assertEqual(response.call_id, request.call_id)
        self.assertEqual(response.cseq, request.cseq)
        self.assertEqual(response.to.tag, "a6c85cf")
        self.assertEqual(response.to.uri, request.to.uri)
        self.assertEqual(response.to.display_name, "Bob")
        self.assertEqual(
            [name for name, _ in response.headers.items()],
            ["Via", "Via", "To", "From", "Call-ID", "CSeq"],
        )
        self.assertEqual(response.body, b"")

    def test_existing_to_tag_is_kept(self) -> None:
        request = invite()
        request.headers.set("To", "<sip:bob@biloxi.example.com>;tag=existing")
        response = make_response(request, 200, to_tag="new")
        self.assertEqual(response.headers.get("To"), "<sip:bob@biloxi.example.com>;tag=existing")

    def test_no_tag_unless_given(self) -> None:
        request = invite()
        self.assertEqual(make_response(request, 100).headers.get("To"), request.headers.get("To"))

    def test_trying_copies_timestamp(self) -> None:
        # §8.2.6.1
        request = invite(Timestamp="54.3 0.1")
        self.assertEqual(make_response(request, 100).headers.get("Timestamp"), "54.3 0.1")
        self.assertNotIn("Timestamp", make_response(request, 180).headers)

    def test_reason_phrases(self) -> None:
        request = invite()
        self.assertEqual(make_response(request, 486).reason, "Busy Here")
        self.assertEqual(make_response(request, 499).reason, "Bad Request")  # class default
        self.assertEqual(make_response(request, 606).reason, "Not Acceptable")
        self.assertEqual(make_response(request, 299).reason, "OK")
        self.assertEqual(make_response(request, 400, "Missing Call-ID").reason, "Missing Call-ID")

    def test_extra_headers_and_body(self) -> None:
        response = make_response(
            invite(),
            200,
            to_tag="t",
            headers=[("Contact", "<sip:bob@192.0.2.4>"), ("Content-Type", "application/sdp")],
            body=b"v=0\r\n",
        )
        self.assertEqual(response.contacts[0].uri, SipURI(user="bob", host="192.0.2.4"))
        self.assertEqual(response.body, b"v=0\r\n")
        self.assertEqual(parse_message(bytes(response)), response)

    def test_status_range(self) -> None:
        self.assertRaises(ValueError, make_response, invite(), 99)
        self.assertRaises(ValueError, make_response, invite(), 700)

    def test_works_on_a_partial_request(self) -> None:
        partial = Request(
            "INVITE", "", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("CSeq", "1 INVITE")]
        )
        response = make_response(partial, 400, to_tag="x")
        self.assertEqual(response.headers.items(), partial.headers.items())

    def test_response_top_via_is_the_requests(self) -> None:
        request = invite()
        self.assertEqual(make_response(request, 200).top_via, request.top_via)
        self.assertIsInstance(request.top_via, Via)


class ExportTests(SynchronousTestCase):
    def test_contract_names(self) -> None:
        # docs/architecture.md, "SIP messages": what other modules import.
        import roomkit_sip.sip as sip
        from roomkit_sip.sip import errors, fields, framing, headers, message, parser, uri

        expected = {
            "parse_message": parser.parse_message,
            "serialize": message.serialize,
            "SIPParseError": errors.SIPParseError,
            "Request": message.Request,
            "Response": message.Response,
            "Headers": headers.Headers,
            "SipURI": uri.SipURI,
            "TelURI": uri.TelURI,
            "AbsoluteURI": uri.AbsoluteURI,
            "parse_uri": uri.parse_uri,
            "Address": uri.Address,
            "Via": fields.Via,
            "CSeq": fields.CSeq,
            "make_response": message.make_response,
            "StreamFramer": framing.StreamFramer,
            "SIPFramingError": errors.SIPFramingError,
        }
        for name, value in expected.items():
            self.assertIn(name, sip.__all__)
            self.assertIs(getattr(sip, name), value)
        self.assertEqual(sorted(sip.__all__), sorted(set(sip.__all__)))
        for name in sip.__all__:
            self.assertTrue(hasattr(sip, name), name)
