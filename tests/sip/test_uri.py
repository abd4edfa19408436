"""L{roomkit_sip.sip.uri}: SIP, tel and other URIs; name-addr and addr-spec."""

from dataclasses import replace

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import (
    AbsoluteURI,
    Address,
    Params,
    SIPParseError,
    SipURI,
    TelURI,
    parse_address,
    parse_uri,
)


class SipURIParseTests(SynchronousTestCase):
    def test_every_component(self) -> None:
        uri = parse_uri(
            "sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=hi&x="
        )
        self.assertIsInstance(uri, SipURI)
        assert isinstance(uri, SipURI)
        self.assertEqual(
            (uri.scheme, uri.user, uri.password, uri.host, uri.port),
            ("sips", "alice", "secret", "atlanta.example.com", 5061),
        )
        self.assertEqual(list(uri.params), [("transport", "tcp"), ("lr", None)])
        self.assertEqual(uri.headers, (("subject", "hi"), ("x", "")))
        self.assertEqual(uri.transport, "tcp")
        self.assertTrue(uri.lr)

    def test_host_only(self) -> None:
        uri = parse_uri("sip:example.com")
        self.assertEqual(uri, SipURI(host="example.com"))
        assert isinstance(uri, SipURI)
        self.assertIsNone(uri.user)
        self.assertIsNone(uri.port)
        self.assertFalse(uri.lr)
        self.assertIsNone(uri.transport)

    def test_scheme_is_case_insensitive(self) -> None:
        uri = parse_uri("SIP:bob@example.com")
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.scheme, "sip")
        self.assertEqual(str(uri), "SIP:bob@example.com")  # the text is kept

    def test_ipv4_and_ipv6_hosts(self) -> None:
        v4 = parse_uri("sip:alice@192.0.2.4:5070")
        assert isinstance(v4, SipURI)
        self.assertEqual((v4.host, v4.port), ("192.0.2.4", 5070))
        v6 = parse_uri("sip:alice@[2001:db8::10]:5070")
        assert isinstance(v6, SipURI)
        self.assertEqual((v6.host, v6.port), ("2001:db8::10", 5070))
        mapped = parse_uri("sip:ted@[::ffff:192.0.2.2]")
        assert isinstance(mapped, SipURI)
        self.assertEqual((mapped.host, mapped.port), ("::ffff:192.0.2.2", None))

    def test_ipv6_port_ambiguity(self) -> None:
        # RFC 5118 §4.3: inside the brackets everything is address.
        uri = parse_uri("sip:[2001:db8::10:5070]")
        assert isinstance(uri, SipURI)
        self.assertEqual((uri.host, uri.port), ("2001:db8::10:5070", None))

    def test_ipv6_without_brackets_is_malformed(self) -> None:
        # RFC 5118 §4.2.
        error = self.assertRaises(SIPParseError, parse_uri, "sip:2001:db8::10")
        self.assertEqual(error.status, 400)

    def test_escapes_are_decoded(self) -> None:
        uri = parse_uri("sip:%75se%72@example.com;n%61me=v%61lue%25%34%31")
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.user, "user")
        self.assertEqual(uri.params.get("name"), "value%41")

    def test_user_part_may_hold_reserved_characters(self) -> None:
        # user-unreserved: "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
        uri = parse_uri("sip:user;par=u%40example.net@example.com")
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.user, "user;par=u@example.net")
        self.assertEqual(uri.host, "example.com")
        self.assertEqual(len(uri.params), 0)

    def test_escaped_null(self) -> None:
        uri = parse_uri("sip:null-%00-null@example.com")
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.user, "null-\x00-null")

    def test_escape_to_non_utf8_octet_round_trips(self) -> None:
        uri = replace(parse_uri("sip:%FF@example.com"))  # type: ignore[type-var]
        self.assertEqual(parse_uri(str(uri)), uri)

    def test_long_uris_parse_the_same(self) -> None:
        # Long URIs bypass the memo: same result, nothing kept.
        user = "u" * 300
        uri = parse_uri(f"sip:{user}@example.com")
        self.assertEqual(uri, SipURI(user=user, host="example.com"))
        self.assertIsNot(parse_uri(f"sip:{user}@example.com"), uri)
        self.assertIs(parse_uri("sip:short@example.com"), parse_uri("sip:short@example.com"))

    def test_malformed(self) -> None:
        for text in (
            "sip:",
            "sip:@example.com",
            "sip:alice@",
            "sip:alice@exa mple.com",
            "sip:alice@example.com:99999",
            "sip:alice@example.com:",
            "sip:alice@-example.com",
            "sip:alice@example.com;",
            "sip:alice@example.com;a=",
            "sip:al%ZZice@example.com",
            "sip:al%4@example.com",
            "sip:alice@example.com?",
            "sip:alice@example.com?subject",
            "sip:<alice>@example.com",
            "sip:alice@[::1",
            "sip:alice@[example.com]",
            "sip:alice@123",
        ):
            with self.subTest(text=text):
                self.assertRaises(SIPParseError, parse_uri, text)


class SipURIBuildTests(SynchronousTestCase):
    def test_serialises_with_escapes(self) -> None:
        uri = SipURI(
            user="I have spaces",
            host="2001:db8::1",
            port=5060,
            params={"transport": "tcp", "lr": None},
            headers=[("Subject", "a&b")],
        )
        self.assertEqual(
            str(uri), "sip:I%20have%20spaces@[2001:db8::1]:5060;transport=tcp;lr?Subject=a%26b"
        )
        self.assertEqual(parse_uri(str(uri)), uri)

    def test_replace_forgets_the_original_text(self) -> None:
        uri = parse_uri("sip:%61lice@example.com")
        self.assertEqual(str(uri), "sip:%61lice@example.com")
        self.assertEqual(str(replace(uri, port=5070)), "sip:alice@example.com:5070")  # type: ignore[type-var]

    def test_refuses_what_cannot_be_written(self) -> None:
        for kwargs in (
            {"host": "bad host"},
            {"host": ""},
            {"host": "[::1]"},
            {"host": "example.com", "port": 65536},
            {"host": "example.com", "password": "p"},
            {"host": "example.com", "user": ""},
            {"host": "example.com", "scheme": "tel"},
        ):
            with self.subTest(kwargs=kwargs):
                self.assertRaises(ValueError, SipURI, **kwargs)

    def test_password(self) -> None:
        uri = SipURI(user="a", password="p w", host="h")
        self.assertEqual(str(uri), "sip:a:p%20w@h")
        self.assertEqual(parse_uri(str(uri)), uri)


class SipURIComparisonTests(SynchronousTestCase):
    """RFC 3261 §19.1.4, including its examples."""

    def assertEquivalent(self, a: str, b: str) -> None:
        self.assertEqual(parse_uri(a), parse_uri(b))
        self.assertEqual(hash(parse_uri(a)), hash(parse_uri(b)))

    def assertDifferent(self, a: str, b: str) -> None:
        self.assertNotEqual(parse_uri(a), parse_uri(b))

    def test_rfc_equivalent_examples(self) -> None:
        self.assertEquivalent(
            "sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"
        )
        self.assertEquivalent("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5")
        self.assertEquivalent("sip:carol@chicago.com", "sip:carol@chicago.com;security=on")
        self.assertEquivalent(
            "sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"
        )
        self.assertEquivalent(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        )
        self.assertEquivalent(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        )

    def test_rfc_different_examples(self) -> None:
        self.assertDifferent(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"
        )
        self.assertDifferent("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060")
        self.assertDifferent("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp")
        self.assertDifferent("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp")
        self.assertDifferent(
            "sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"
        )
        self.assertDifferent("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4")

    def test_user_ttl_method_maddr_in_one_only_never_match(self) -> None:
        for param in ("user=phone", "ttl=15", "method=INVITE", "maddr=239.255.255.1"):
            with self.subTest(param=param):
                self.assertDifferent("sip:alice@example.com", f"sip:alice@example.com;{param}")

    def test_parameter_in_both_must_match(self) -> None:
        self.assertDifferent("sip:a@example.com;foo=1", "sip:a@example.com;foo=2")
        self.assertEquivalent("sip:a@example.com;foo=ABC", "sip:a@example.com;FOO=abc")

    def test_sips_is_not_sip(self) -> None:
        self.assertDifferent("sip:a@example.com", "sips:a@example.com")

    def test_password_matters(self) -> None:
        self.assertDifferent("sip:a:x@example.com", "sip:a@example.com")

    def test_not_equal_to_other_kinds(self) -> None:
        self.assertNotEqual(parse_uri("sip:a@example.com"), "sip:a@example.com")
        self.assertNotEqual(parse_uri("sip:a@example.com"), parse_uri("tel:+1234"))


class TelURITests(SynchronousTestCase):
    def test_global_number(self) -> None:
        uri = parse_uri("tel:+1-201-555-0123;ext=1234")
        self.assertIsInstance(uri, TelURI)
        assert isinstance(uri, TelURI)
        self.assertEqual(uri.number, "+1-201-555-0123")
        self.assertTrue(uri.is_global)
        self.assertEqual(uri.params.get("ext"), "1234")
        self.assertEqual(uri.scheme, "tel")
        self.assertEqual(str(uri), "tel:+1-201-555-0123;ext=1234")

    def test_local_number(self) -> None:
        uri = parse_uri("tel:7042;phone-context=example.com")
        assert isinstance(uri, TelURI)
        self.assertFalse(uri.is_global)
        self.assertEqual(uri.phone_context, "example.com")

    def test_comparison_rfc3966(self) -> None:
        # §4: visual separators ignored, parameters in any order, case-insensitive.
        self.assertEqual(parse_uri("tel:+1-201-555-0123"), parse_uri("tel:+1(201)5550123"))
        self.assertEqual(
            parse_uri("tel:7042;phone-context=EXAMPLE.com;ext=1"),
            parse_uri("TEL:7042;ext=1;phone-context=example.com"),
        )
        self.assertNotEqual(parse_uri("tel:+12015550123"), parse_uri("tel:12015550123"))
        self.assertNotEqual(parse_uri("tel:+12015550123"), parse_uri("tel:+12015550123;ext=1"))
        self.assertEqual(hash(parse_uri("tel:+1-2")), hash(parse_uri("tel:+12")))

    def test_refuses_what_cannot_be_written(self) -> None:
        for number, params in (("", {}), ("+", {}), ("12 34", {}), ("+1", {"a b": "c"})):
            with self.subTest(number=number, params=params):
                self.assertRaises(ValueError, TelURI, number, params)

    def test_malformed(self) -> None:
        for text in ("tel:", "tel:+", "tel:+12a", "tel:12 34", "tel:+1;=x"):
            with self.subTest(text=text):
                self.assertRaises(SIPParseError, parse_uri, text)


class AbsoluteURITests(SynchronousTestCase):
    def test_unknown_schemes_are_kept_opaque(self) -> None:
        uri = parse_uri("nobodyKnowsThisScheme:totallyopaquecontent")
        self.assertEqual(uri, AbsoluteURI("nobodyknowsthisscheme", "totallyopaquecontent"))
        self.assertEqual(
            str(parse_uri("soap.beep://192.0.2.103:3002")), "soap.beep://192.0.2.103:3002"
        )
        self.assertEqual(parse_uri("http://www.example.com").scheme, "http")

    def test_refuses_what_cannot_be_written(self) -> None:
        for scheme, rest in (("1x", "a"), ("x", ""), ("x", "a b"), ("", "a"), ("x", "<a>")):
            with self.subTest(scheme=scheme, rest=rest):
                self.assertRaises(ValueError, AbsoluteURI, scheme, rest)

    def test_comparison(self) -> None:
        self.assertEqual(parse_uri("ISBN:2983792873"), parse_uri("isbn:2983792873"))
        self.assertNotEqual(parse_uri("isbn:2983792873"), parse_uri("isbn:2983792874"))
        self.assertEqual(hash(parse_uri("URN:x")), hash(parse_uri("urn:x")))

    def test_malformed(self) -> None:
        for text in ("", "nocolon", ":x", "1abc:x", "http:", "http:a b", "<sip:a@b>", "x:%zz"):
            with self.subTest(text=text):
                self.assertRaises(SIPParseError, parse_uri, text)


class AddressParseTests(SynchronousTestCase):
    def test_name_addr_with_quoted_display_name(self) -> None:
        address = parse_address('"Bell, Alexander" <sip:a.g.bell@example.com>;tag=43')
        self.assertEqual(address.display_name, "Bell, Alexander")
        self.assertEqual(address.uri, SipURI(user="a.g.bell", host="example.com"))
        self.assertEqual(address.tag, "43")

    def test_display_name_escapes(self) -> None:
        address = parse_address(r'"J Rosenberg \\\"" <sip:jdrosen@example.com>')
        self.assertEqual(address.display_name, 'J Rosenberg \\"')

    def test_display_name_with_escaped_controls(self) -> None:
        address = parse_address('"BEL:\\\x07 NUL:\\\x00" <sip:x@example.com>')
        self.assertEqual(address.display_name, "BEL:\x07 NUL:\x00")

    def test_token_display_name(self) -> None:
        self.assertEqual(parse_address("A. G. Bell <sip:a@b.example>").display_name, "A. G. Bell")
        # RFC 4475 §3.1.1.6: no LWS before "<".
        self.assertEqual(parse_address("caller<sip:caller@example.com>").display_name, "caller")

    def test_empty_quoted_display_name(self) -> None:
        self.assertEqual(parse_address('"" <sip:a@b.example>').display_name, "")

    def test_no_display_name(self) -> None:
        address = parse_address("<sip:a@b.example;lr>")
        self.assertIsNone(address.display_name)
        self.assertEqual(len(address.params), 0)
        assert isinstance(address.uri, SipURI)
        self.assertTrue(address.uri.lr)  # inside <> parameters belong to the URI

    def test_addr_spec_parameters_belong_to_the_header(self) -> None:
        address = parse_address("sip:watson@example.com ;  tag = 838293;unknownparam")
        self.assertEqual(address.uri, SipURI(user="watson", host="example.com"))
        self.assertEqual(list(address.params), [("tag", "838293"), ("unknownparam", None)])

    def test_params_with_quoted_and_ipv6_values(self) -> None:
        address = parse_address('<sip:a@b.example>;x="a;b, c";maddr=[2001:db8::1];q=0.5')
        self.assertEqual(address.params.get("x"), '"a;b, c"')
        self.assertEqual(address.params.get("maddr"), "[2001:db8::1]")
        self.assertEqual(address.params.get("Q"), "0.5")

    def test_other_schemes(self) -> None:
        self.assertEqual(parse_address("isbn:2983792873").uri, AbsoluteURI("isbn", "2983792873"))
        self.assertEqual(parse_address("<tel:+1234>").uri, TelURI("+1234"))

    def test_malformed(self) -> None:
        for text in (
            "",
            '"Mr. J. User <sip:j.user@example.com>',  # RFC 4475 §3.1.2.6
            "Bell, Alexander <sip:a.g.bell@example.com>",  # §3.1.2.15
            '"Watson, Thomas" < sip:t.watson@example.org >',  # §3.1.2.14
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # §3.1.2.13
            "<sip:a@b.example",
            "<sip:a@b.example> junk",
            "<sip:a@b.example>;",
            "<sip:a@b.example>;tag=",
            "<sip:a@b.example> <sip:c@d.example>",
            "sip:a@b.example, sip:c@d.example",
            "sip:a b@example.com",
        ):
            with self.subTest(text=text):
                error = self.assertRaises(SIPParseError, parse_address, text)
                self.assertEqual(error.status, 400)


class AddressTests(SynchronousTestCase):
    def test_serialises_as_name_addr(self) -> None:
        address = Address('Alice "A" \\', "sip:alice@example.com", {"tag": "1"})
        self.assertEqual(str(address), '"Alice \\"A\\" \\\\" <sip:alice@example.com>;tag=1')
        self.assertEqual(parse_address(str(address)), address)

    def test_serialises_controls_as_quoted_pairs(self) -> None:
        address = Address("a\x07b\tc", "sip:x@example.com")
        self.assertEqual(parse_address(str(address)), address)

    def test_display_name_cannot_hold_line_breaks(self) -> None:
        self.assertRaises(ValueError, str, Address("a\r\nb", "sip:x@example.com"))

    def test_parameters_must_be_generic_params(self) -> None:
        for params in ({"tag": "a;b"}, {"a b": None}, {"tag": ""}, {"x": "<y>"}):
            with self.subTest(params=params):
                self.assertRaises(ValueError, str, Address(None, "sip:x@example.com", params))

    def test_uri_given_as_text_must_parse(self) -> None:
        self.assertRaises(SIPParseError, Address, None, "sip:bad host")

    def test_without_display_name(self) -> None:
        self.assertEqual(str(Address(None, "sip:a@example.com")), "<sip:a@example.com>")

    def test_uri_keeps_its_text(self) -> None:
        address = parse_address("sip:%75se%72@example.com")
        self.assertEqual(str(address.with_tag("9")), "<sip:%75se%72@example.com>;tag=9")

    def test_with_tag(self) -> None:
        address = parse_address("<sip:a@example.com>;tag=1;x=2")
        self.assertEqual(list(address.with_tag("2").params), [("tag", "2"), ("x", "2")])
        plain = parse_address("<sip:a@example.com>")
        self.assertIsNone(plain.tag)
        self.assertEqual(plain.with_tag("abc").tag, "abc")
        self.assertIsNone(plain.tag)

    def test_tag_name_is_case_insensitive(self) -> None:
        self.assertEqual(parse_address("<sip:a@example.com>;TAG=x").tag, "x")

    def test_equality_and_hash(self) -> None:
        a = parse_address('"A" <sip:%61@example.com>;tag=1')
        b = Address("A", SipURI(user="a", host="EXAMPLE.com"), Params([("Tag", "1")]))
        self.assertEqual(a, b)
        self.assertEqual(hash(a), hash(b))
        self.assertNotEqual(a, a.with_tag("2"))
