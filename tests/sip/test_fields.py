"""L{roomkit_sip.sip.fields}: Via, CSeq, parameters and the scalar header fields."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import CSeq, Params, SIPParseError, Via
from roomkit_sip.sip.fields import (
    parse_call_id,
    parse_cseq,
    parse_max_forwards,
    parse_media_type,
    parse_params,
    parse_via,
    parse_via_list,
    quote_string,
    unquote_string,
)


class ParamsTests(SynchronousTestCase):
    def test_lookup_is_case_insensitive(self) -> None:
        params = Params([("Branch", "z9hG4bK1"), ("rport", None)])
        self.assertEqual(params.get("branch"), "z9hG4bK1")
        self.assertIn("RPORT", params)
        self.assertIsNone(params.get("rport"))
        self.assertNotIn("received", params)
        self.assertEqual(params.get("received", "x"), "x")
        self.assertNotIn(1, params)

    def test_from_mapping(self) -> None:
        self.assertEqual(list(Params({"a": "1", "b": None})), [("a", "1"), ("b", None)])

    def test_with_param_and_without(self) -> None:
        params = Params([("a", "1"), ("b", None)])
        self.assertEqual(list(params.with_param("A", "2")), [("a", "2"), ("b", None)])
        self.assertEqual(
            list(params.with_param("c", None)), [("a", "1"), ("b", None), ("c", None)]
        )
        self.assertEqual(list(params.without("B")), [("a", "1")])
        self.assertEqual(list(params), [("a", "1"), ("b", None)])  # unchanged

    def test_equality_folds_names_keeps_values_and_order(self) -> None:
        self.assertEqual(Params([("A", "x")]), Params([("a", "x")]))
        self.assertEqual(hash(Params([("A", "x")])), hash(Params([("a", "x")])))
        self.assertNotEqual(Params([("a", "X")]), Params([("a", "x")]))
        self.assertNotEqual(Params([("a", None), ("b", None)]), Params([("b", None), ("a", None)]))
        self.assertNotEqual(Params(), ())

    def test_str(self) -> None:
        self.assertEqual(str(Params([("tag", "1"), ("lr", None)])), ";tag=1;lr")
        self.assertEqual(str(Params()), "")
        self.assertEqual(len(Params([("a", None)])), 1)

    def test_parse(self) -> None:
        params = parse_params(' ; tag = 1918181833n;q=0.33 ;x="a;b"; y ')
        self.assertEqual(
            list(params), [("tag", "1918181833n"), ("q", "0.33"), ("x", '"a;b"'), ("y", None)]
        )

    def test_parse_rejects(self) -> None:
        for text in (";", ";=x", ";a=", ";a b", "a=1", ';a="unterminated', ";a=b=c", ";a;;b"):
            with self.subTest(text=text):
                self.assertRaises(SIPParseError, parse_params, text)


class QuotingTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        for text in (
            "",
            "plain",
            'with "quotes"',
            "back\\slash",
            "ctl\x00\x07\x7f",
            "tab\tok",
            "ü",
        ):
            with self.subTest(text=text):
                self.assertEqual(unquote_string(quote_string(text)), text)

    def test_quoted_pairs(self) -> None:
        self.assertEqual(quote_string('a"b\\c'), '"a\\"b\\\\c"')
        self.assertEqual(quote_string("\x07"), '"\\\x07"')

    def test_line_breaks_cannot_be_quoted(self) -> None:
        self.assertRaises(ValueError, quote_string, "a\rb")
        self.assertRaises(ValueError, quote_string, "a\nb")


class ViaParseTests(SynchronousTestCase):
    def test_typical(self) -> None:
        via = parse_via("SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK776asdhds;rport")
        self.assertEqual(
            via,
            Via(
                "UDP",
                "203.0.113.10",
                5060,
                Params([("branch", "z9hG4bK776asdhds"), ("rport", None)]),
            ),
        )
        self.assertEqual(via.branch, "z9hG4bK776asdhds")
        self.assertIs(via.rport, True)
        self.assertIsNone(via.received)
        self.assertEqual(via.sent_by, ("203.0.113.10", 5060))
        self.assertEqual(via.protocol, "SIP/2.0")

    def test_filled_rport_and_received(self) -> None:
        via = parse_via("SIP/2.0/UDP h.example.com;received=192.0.2.1;rport=5070;branch=z9hG4bK1")
        self.assertEqual(via.rport, 5070)
        self.assertEqual(via.received, "192.0.2.1")
        self.assertEqual(via.sent_by, ("h.example.com", None))

    def test_lws_everywhere_it_is_allowed(self) -> None:
        # RFC 4475 §3.1.1.1, after unfolding.
        via = parse_via("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  ")
        self.assertEqual(
            (via.transport, via.host, via.branch), ("TCP", "spindle.example.com", "z9hG4bK9ikj8")
        )
        via = parse_via("SIP/2.0/UDP host.example.com : 5062 ;branch=z9hG4bK1")
        self.assertEqual(via.port, 5062)

    def test_transport_is_upper_cased(self) -> None:
        self.assertEqual(parse_via("SIP/2.0/tls h.example.com").transport, "TLS")
        self.assertEqual(parse_via("SIP/2.0/UNKNOWN t4.example.com").transport, "UNKNOWN")

    def test_other_protocol_is_recorded(self) -> None:
        via = parse_via("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw")
        self.assertEqual(via.protocol, "SIP/7.0")
        self.assertEqual(str(via), "SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw")

    def test_ipv6(self) -> None:
        via = parse_via("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111")
        self.assertEqual(via.sent_by, ("2001:db8::9:1", 6050))
        self.assertEqual(str(via), "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111")

    def test_ipv6_received_with_and_without_brackets(self) -> None:
        # RFC 5118 §4.5: accept both.
        self.assertEqual(
            parse_via("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9").received,
            "2001:db8::9:255",
        )
        self.assertEqual(
            parse_via("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9").received,
            "2001:db8::9:255",
        )

    def test_ipv4_mapped_received_kept_whole(self) -> None:
        # Found by hypothesis: the bare-IPv6 alternative used to stop at
        # "::ffff:0" and drop the ".0.0.0" a full match had accepted.
        via = parse_via("SIP/2.0/UDP a;received=::ffff:192.0.2.1;branch=z9hG4bK0")
        self.assertEqual(via.received, "::ffff:192.0.2.1")
        self.assertEqual(str(via), "SIP/2.0/UDP a;received=::ffff:192.0.2.1;branch=z9hG4bK0")

    def test_rfc2543_branchless(self) -> None:
        via = parse_via("SIP/2.0/UDP iftgw.example.com")
        self.assertIsNone(via.branch)
        self.assertIsNone(via.rport)

    def test_extension_params_keep_quotes(self) -> None:
        via = parse_via('SIP/2.0/UDP h;branch=z9hG4bK1;x="a b";ttl=16;maddr=224.2.0.1')
        self.assertEqual(via.params.get("x"), '"a b"')
        self.assertEqual(via.params.get("ttl"), "16")

    def test_malformed(self) -> None:
        for text in (
            "",
            "SIP/2.0/UDP",
            "SIP/2.0 UDP h.example.com",
            "SIP/2.0/UDP h.example.com:65536",
            "SIP/2.0/UDP h.example.com:",
            "SIP/2.0/UDP 2001:db8::1",
            "SIP/2.0/UDP h.example.com;;",
            "SIP/2.0/UDP h.example.com;branch",
            'SIP/2.0/UDP h.example.com;branch="quoted"',
            "SIP/2.0/UDP h.example.com;received=host.example.com",
            "SIP/2.0/UDP h.example.com;received",
            "SIP/2.0/UDP h.example.com;rport=x",
            "SIP/2.0/UDP h.example.com;rport=70000",
            "SIP/2.0/UDP h.example.com;ttl=256",
            "SIP/2.0/UDP h.example.com;maddr=-bad-",
            "SIP/2.0/UDP h.example.com junk",
        ):
            with self.subTest(text=text):
                error = self.assertRaises(SIPParseError, parse_via, text)
                self.assertEqual(error.status, 400)

    def test_list(self) -> None:
        vias = parse_via_list(
            "SIP/2.0/TCP a.example.com;branch=z9hG4bK1 , SIP/2.0/UDP b.example.com;branch=z9hG4bK2"
        )
        self.assertEqual([via.host for via in vias], ["a.example.com", "b.example.com"])

    def test_list_rejects_empty_elements(self) -> None:
        # RFC 4475 §3.1.2.1.
        self.assertRaises(SIPParseError, parse_via_list, "SIP/2.0/UDP 192.0.2.15;;,;,,")
        self.assertRaises(SIPParseError, parse_via_list, "SIP/2.0/UDP a.example.com,")


class ViaTests(SynchronousTestCase):
    def test_with_params(self) -> None:
        via = Via("UDP", "203.0.113.10", 5060, {"branch": "z9hG4bK1", "rport": None})
        filled = via.with_params(received="198.51.100.7", rport=40312)
        self.assertEqual(filled.received, "198.51.100.7")
        self.assertEqual(filled.rport, 40312)
        self.assertIs(via.rport, True)  # the original is unchanged
        self.assertEqual(
            str(filled),
            "SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK1;rport=40312;received=198.51.100.7",
        )
        self.assertIs(filled.with_params(rport=True).rport, True)
        self.assertIsNone(filled.with_params(rport=None).rport)
        self.assertNotIn("rport", filled.with_params(rport=False).params)

    def test_str_refuses_what_cannot_be_written(self) -> None:
        for via in (
            Via("UDP", "bad host"),
            Via("U D P", "h.example.com"),
            Via("UDP", "h.example.com", 70000),
            Via("UDP", "h.example.com", None, {"branch": "a b"}),
            Via("UDP", "h.example.com", None, {"received": "not-an-ip"}),
            Via("UDP", "h.example.com", None, {"x": "a;y=b"}),
            Via("UDP", "h.example.com", protocol="SIP 2.0"),
        ):
            with self.subTest(via=via):
                self.assertRaises(ValueError, str, via)

    def test_str_parses_back(self) -> None:
        via = Via("TCP", "2001:db8::1", None, {"branch": "z9hG4bKx", "received": "2001:db8::2"})
        self.assertEqual(parse_via(str(via)), via)

    def test_value_semantics(self) -> None:
        a = Via("UDP", "h", 1, {"branch": "z"})
        self.assertEqual(a, Via("UDP", "h", 1, Params([("branch", "z")])))
        self.assertEqual(hash(a), hash(Via("UDP", "h", 1, {"branch": "z"})))
        self.assertNotEqual(a, Via("UDP", "h", 2, {"branch": "z"}))


class CSeqTests(SynchronousTestCase):
    def test_parse(self) -> None:
        self.assertEqual(parse_cseq("4711 INVITE"), CSeq(4711, "INVITE"))
        self.assertEqual(parse_cseq("0009 INVITE"), CSeq(9, "INVITE"))
        self.assertEqual(parse_cseq("1\t  NEWMETHOD"), CSeq(1, "NEWMETHOD"))
        self.assertEqual(parse_cseq(f"{2**31 - 1} BYE").seq, 2**31 - 1)

    def test_str(self) -> None:
        self.assertEqual(str(CSeq(1, "INVITE")), "1 INVITE")
        self.assertRaises(ValueError, str, CSeq(2**31, "INVITE"))
        self.assertRaises(ValueError, str, CSeq(-1, "INVITE"))
        self.assertRaises(ValueError, str, CSeq(1, "IN VITE"))

    def test_must_be_below_2_31(self) -> None:
        # RFC 3261 §8.1.1.5; RFC 4475 §3.1.2.4.
        self.assertRaises(SIPParseError, parse_cseq, f"{2**31} INVITE")
        self.assertRaises(SIPParseError, parse_cseq, "36893488147419103232 REGISTER")
        self.assertRaises(SIPParseError, parse_cseq, "9" * 5000 + " REGISTER")

    def test_malformed(self) -> None:
        for text in (
            "",
            "INVITE",
            "1",
            "1INVITE",
            "-1 INVITE",
            "1 IN VITE",
            "one INVITE",
            "١ INVITE",
        ):
            with self.subTest(text=text):
                self.assertRaises(SIPParseError, parse_cseq, text)


class ScalarTests(SynchronousTestCase):
    def test_call_id(self) -> None:
        for good in (
            "a84b4c76e66710@pc33.atlanta.com",
            "f81d4fae-7dec",
            "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
        ):
            self.assertEqual(parse_call_id(good), good)
        for bad in ("", "a b", "a@b@c", "a@", "@b", "é"):
            with self.subTest(bad=bad):
                self.assertRaises(SIPParseError, parse_call_id, bad)

    def test_max_forwards(self) -> None:
        self.assertEqual(parse_max_forwards("70"), 70)
        self.assertEqual(parse_max_forwards("0068"), 68)
        self.assertEqual(parse_max_forwards("0"), 0)
        self.assertEqual(parse_max_forwards("255"), 255)
        for bad in ("256", "300", "-1", "", "7O", "1" * 5000, "٣"):
            with self.subTest(bad=bad):
                self.assertRaises(SIPParseError, parse_max_forwards, bad)

    def test_media_type(self) -> None:
        self.assertEqual(parse_media_type("application/sdp"), "application/sdp")
        self.assertEqual(parse_media_type("Application/SDP"), "application/sdp")
        self.assertEqual(
            parse_media_type('multipart/mixed;boundary=7a9cbec02ceef655 ; x="y z"'),
            "multipart/mixed",
        )
        for bad in ("", "application", "application/", "a/b;", "a/b;c", "a b/c"):
            with self.subTest(bad=bad):
                self.assertRaises(SIPParseError, parse_media_type, bad)
