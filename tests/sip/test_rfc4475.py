"""
RFC 4475 (SIP torture test messages) against L{parse_message}.

Every file has its expected outcome written here by hand, from the RFC text;
none is derived from the parser.  Three tables classify the 49 messages and
are importable, so the call engine's tests can assert its answers on the same
files:

  - L{PARSED}: messages C{parse_message} accepts (valid ones, and invalid ones
    whose defect is not syntax);
  - L{REJECTED}: messages C{parse_message} rejects, with the status carried
    by the L{SIPParseError} and whether it is answered (C{partial} set) or
    dropped (C{partial} is C{None}: responses and unroutable requests);
  - L{UAS_LEVEL}: the parsed messages RFC 4475 nevertheless lists as
    invalid, or whose answer is policy: what a UAS answers is its decision,
    made above the parser.
"""

import json
import pathlib

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import (
    AbsoluteURI,
    CSeq,
    Request,
    Response,
    SIPParseError,
    SipURI,
    parse_message,
    parse_uri,
)

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "rfc4475"

ANSWER = "answer"
DROP = "drop"
ANY_BUT_400 = "any-but-400"

#: Files C{parse_message} rejects: file -> (SIPParseError.status, ANSWER when a
#: partial request is there to answer, DROP when it is C{None}).
REJECTED = {
    "badinv01.dat": (400, ANSWER),  # §3.1.2.1 empty Via/Contact parameters
    "clerr.dat": (400, ANSWER),  # §3.1.2.2 Content-Length 9999 > body
    "ncl.dat": (400, ANSWER),  # §3.1.2.3 Content-Length -999
    "scalar02.dat": (400, ANSWER),  # §3.1.2.4 CSeq >= 2**31, Max-Forwards 300
    "scalarlg.dat": (400, DROP),  # §3.1.2.5 a response with overlarge CSeq
    "quotbal.dat": (400, ANSWER),  # §3.1.2.6 unterminated quoted string in To
    "ltgtruri.dat": (400, ANSWER),  # §3.1.2.7 <> around the Request-URI
    "lwsruri.dat": (400, ANSWER),  # §3.1.2.8 LWS inside the Request-URI
    "lwsstart.dat": (400, ANSWER),  # §3.1.2.9 two SPs between elements
    "trws.dat": (400, ANSWER),  # §3.1.2.10 SP at the end of the Request-Line
    "escruri.dat": (400, ANSWER),  # §3.1.2.11 headers in the Request-URI
    "badaspec.dat": (400, ANSWER),  # §3.1.2.14 SP inside <> in To
    "baddn.dat": (400, ANSWER),  # §3.1.2.15 non-token display name
    "badvers.dat": (505, ANSWER),  # §3.1.2.16 SIP/7.0
    "mismatch01.dat": (400, ANSWER),  # §3.1.2.17 CSeq INVITE on OPTIONS
    "mismatch02.dat": (400, ANSWER),  # §3.1.2.18 CSeq INVITE on NEWMETHOD
    "bigcode.dat": (400, DROP),  # §3.1.2.19 a response with status 4294967301
    "insuf.dat": (400, ANSWER),  # §3.3.1 no Call-ID, From, To
    "multi01.dat": (400, ANSWER),  # §3.3.8 repeated CSeq, Call-ID, From, To...
    "mcl01.dat": (400, ANSWER),  # §3.3.9 two Content-Length values
}

#: Parsed messages whose answer is a UAS decision (what RFC 4475 says it
#: should be).  The parser accepts them because they are well-formed SIP.
UAS_LEVEL = {
    "bext01.dat": (420,),  # §3.3.5 Require: unknown option tags -> 420 + Unsupported
    "invut.dat": (415,),  # §3.3.6 Content-Type application/unknownformat -> 415 + Accept
    "sdp01.dat": (406,),  # §3.3.15 Accept: text/nobodyKnowsThis on an INVITE -> 406
    "unkscm.dat": (416,),  # §3.3.2 Request-URI scheme unknown -> 416
    "novelsc.dat": (416,),  # §3.3.3 soap.beep Request-URI to a sip-only UAS -> 416
    "regaut01.dat": (401, 405, 501),  # §3.3.7 unknown Authorization scheme on REGISTER
    "zeromf.dat": (200, 483),  # §3.3.11 Max-Forwards 0 on an OPTIONS addressed to us
    "baddate.dat": (ANY_BUT_400,),  # §3.1.2.12 bad Date time zone: ignored (Date is lazy)
    # §3.1.2.13: the Contact needs <> around a URI with "?".  The Contact
    # accessor raises 400; a non-registrar answers 405/501 without reading it.
    "regbadct.dat": (400, 405, 501),
}

#: Files C{parse_message} accepts.
PARSED = {
    "wsinv.dat",
    "intmeth.dat",
    "esc01.dat",
    "escnull.dat",
    "esc02.dat",
    "lwsdisp.dat",
    "longreq.dat",
    "dblreq.dat",
    "semiuri.dat",
    "transports.dat",
    "mpart01.dat",
    "unreason.dat",
    "noreason.dat",
    "badbranch.dat",
    "unksm2.dat",
    "bcast.dat",
    "cparam01.dat",
    "cparam02.dat",
    "regescrt.dat",
    "inv2543.dat",
    *UAS_LEVEL,
}


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse(name: str) -> Request | Response:
    return parse_message(load(name))


def request(name: str) -> Request:
    message = parse(name)
    assert isinstance(message, Request), name
    return message


class ManifestTests(SynchronousTestCase):
    """The tables above agree with the corpus manifest."""

    def setUp(self) -> None:
        manifest = json.loads((DATA / "manifest.json").read_text())
        self.cases = {case["file"]: case for case in manifest["cases"]}

    def test_corpus_is_complete(self) -> None:
        files = {path.name for path in DATA.glob("*.dat")}
        self.assertEqual(len(files), 49)
        self.assertEqual(files, set(self.cases))

    def test_every_file_has_exactly_one_expectation(self) -> None:
        self.assertEqual(PARSED & set(REJECTED), set())
        self.assertEqual(PARSED | set(REJECTED), set(self.cases))

    def test_rejections_are_answers_the_rfc_allows(self) -> None:
        for name, (status, outcome) in REJECTED.items():
            allowed = self.cases[name]["uas_answer"]
            with self.subTest(name=name):
                self.assertFalse(self.cases[name]["valid"])
                if outcome == DROP:
                    self.assertTrue(allowed == "drop" or "drop" in allowed)
                else:
                    self.assertIn(status, allowed)

    def test_uas_level_answers_are_answers_the_rfc_allows(self) -> None:
        for name, answers in UAS_LEVEL.items():
            allowed = self.cases[name]["uas_answer"]
            with self.subTest(name=name):
                for answer in answers:
                    self.assertTrue(answer in allowed or answer == allowed)

    def test_parsed_messages_are_valid_or_uas_level(self) -> None:
        for name in PARSED - set(UAS_LEVEL):
            with self.subTest(name=name):
                self.assertTrue(self.cases[name]["valid"])


class OutcomeTests(SynchronousTestCase):
    def test_parsed_messages_parse_and_round_trip(self) -> None:
        for name in sorted(PARSED):
            with self.subTest(name=name):
                message = parse(name)
                self.assertEqual(parse_message(bytes(message)), message)

    def test_rejected_messages(self) -> None:
        for name, (status, outcome) in sorted(REJECTED.items()):
            with self.subTest(name=name):
                error = self.assertRaises(SIPParseError, parse_message, load(name))
                self.assertEqual(error.status, status)
                if outcome == DROP:
                    self.assertIsNone(error.partial)
                else:
                    self.assertIsNotNone(error.partial)
                    assert error.partial is not None
                    self.assertTrue(error.partial.top_via.host)


class ValidMessageTests(SynchronousTestCase):
    """§3.1.1 and the valid messages of §3.2-§3.4: the tricky field of each."""

    def test_wsinv(self) -> None:
        # §3.1.1.1: folding, compact forms, LWS around separators, escapes.
        message = request("wsinv.dat")
        self.assertEqual(message.to.tag, "1918181833n")
        self.assertEqual(message.from_.display_name, 'J Rosenberg \\"')
        self.assertEqual(message.from_.tag, "98asjd8")
        self.assertEqual(message.max_forwards, 68)
        self.assertEqual(message.cseq, CSeq(9, "INVITE"))
        self.assertEqual(
            [(v.transport, v.host, v.branch) for v in message.vias],
            [
                ("UDP", "192.0.2.2", "390skdjuw"),
                ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
                ("UDP", "192.168.255.111", "z9hG4bK30239"),
            ],
        )
        self.assertEqual(message.headers.get("Subject"), "")
        self.assertEqual(
            message.headers.get("newfangledheader"), "newfangled value continued newfangled value"
        )
        self.assertEqual(message.headers.get("UnknownHeaderWithUnusualValue"), ";;,,;;,;")
        (contact,) = message.contacts
        self.assertEqual(contact.display_name, 'Quoted string ""')
        self.assertEqual(
            list(contact.params), [("newparam", "newvalue"), ("secondparam", None), ("q", "0.33")]
        )
        self.assertEqual(
            message.headers.get("Route"),
            "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
        )
        self.assertEqual(len(message.body), 150)

    def test_intmeth(self) -> None:
        # §3.1.1.2: every token character in the method, odd URI and names.
        message = request("intmeth.dat")
        self.assertEqual(message.method, "!interesting-Method0123456789_*+`.%indeed'~")
        self.assertEqual(message.cseq.method, message.method)
        uri = message.request_uri
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        self.assertEqual(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        self.assertEqual(uri.host, "example.com")
        self.assertEqual(message.top_via.branch, "z9hG4bK-.!%66*_+`'~")
        self.assertEqual(message.to.display_name, "BEL:\x07 NUL:\x00 DEL:\x7f")
        self.assertEqual(message.from_.display_name, "token1~` token2'+_ token3*%!.-")
        self.assertEqual(message.from_.params.get("fromParam''~+*_!.-%"), '"работающий"')
        self.assertEqual(message.from_.tag, "_token~1'+`*%!-.")
        self.assertEqual(message.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
        self.assertEqual(message.max_forwards, 255)
        self.assertEqual(message.headers.get("extensionHeader-!.%*+_`'~"), "\ufeff大停電")

    def test_esc01(self) -> None:
        # §3.1.1.3: escaped user parts equal their unescaped forms.
        message = request("esc01.dat")
        uri = message.request_uri
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.user, "sips:user@example.com")
        self.assertEqual(uri, SipURI(user="sips:user@example.com", host="example.net"))
        self.assertEqual(message.to.uri, parse_uri("sip:user@example.com"))
        self.assertEqual(message.from_.uri, SipURI(user="I have spaces", host="example.net"))
        contact = message.contacts[0].uri
        assert isinstance(contact, SipURI)
        self.assertEqual(contact.user, "caller")
        self.assertTrue(contact.lr)
        self.assertEqual(contact.params.get("name"), "value%41")
        self.assertEqual(message.call_id, "esc01.239409asdfakjkn23onasd0-3234")
        self.assertEqual(message.content_type, "application/sdp")

    def test_escnull(self) -> None:
        # §3.1.1.4: %00 in user parts.
        message = request("escnull.dat")
        to = message.to.uri
        assert isinstance(to, SipURI)
        self.assertEqual(to.user, "null-\x00-null")
        self.assertEqual([c.uri.user for c in message.contacts], ["\x00", "\x00\x00"])  # type: ignore[union-attr]
        self.assertEqual(message.body, b"")

    def test_esc02(self) -> None:
        # §3.1.1.5: % that is no escape; C%6Fntact is another header field.
        message = request("esc02.dat")
        self.assertEqual(message.method, "RE%47IST%45R")
        self.assertEqual(message.to.display_name, "%Z%45")
        self.assertEqual(message.top_via.branch, "z9hG4bK209%fzsnel234")
        self.assertEqual(message.headers.get("C%6Fntact"), "<sip:alias2@host2.example.com>")
        self.assertEqual(
            [str(c.uri) for c in message.contacts],
            ["sip:alias1@host1.example.com", "sip:alias3@host3.example.com"],
        )

    def test_lwsdisp(self) -> None:
        # §3.1.1.6: no LWS between display name and "<".
        message = request("lwsdisp.dat")
        self.assertEqual(message.from_.display_name, "caller")
        self.assertEqual(message.from_.tag, "323")

    def test_longreq(self) -> None:
        # §3.1.1.7: long values, many Vias under every spelling of the name.
        message = request("longreq.dat")
        self.assertEqual(
            message.to.display_name,
            "I have a user name of " + "extreme" * 10 + " proportion",
        )
        to = message.to.uri
        assert isinstance(to, SipURI)
        self.assertEqual(to.port, 6000)
        self.assertEqual(len(to.params), 3)
        self.assertEqual(message.from_.tag, "12" + "982" * 50 + "424")
        vias = message.vias
        self.assertEqual(len(vias), 34)
        self.assertEqual(
            [v.host for v in vias[:33]], [f"sip{n}.example.com" for n in range(33, 0, -1)]
        )
        self.assertEqual(vias[-1].received, "192.0.2.5")
        self.assertEqual(vias[-1].branch, "very" + "long" * 50 + "branchvalue")
        self.assertEqual(len(message.body), 150)

    def test_dblreq(self) -> None:
        # §3.1.1.8: the INVITE after the REGISTER in the datagram is ignored.
        message = request("dblreq.dat")
        self.assertEqual(message.method, "REGISTER")
        self.assertEqual(message.body, b"")
        self.assertEqual(message.call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412")

    def test_semiuri(self) -> None:
        # §3.1.1.9: ";" inside the user part is not a parameter.
        message = request("semiuri.dat")
        uri = message.request_uri
        assert isinstance(uri, SipURI)
        self.assertEqual(
            (uri.user, uri.host, len(uri.params)), ("user;par=u@example.net", "example.com", 0)
        )
        self.assertEqual(
            message.headers.get_all("Accept"),
            [
                "application/sdp",
                "application/pkcs7-mime",
                "multipart/mixed",
                "multipart/signed",
                "message/sip",
                "message/sipfrag",
            ],
        )

    def test_transports(self) -> None:
        # §3.1.1.10: unknown transports parse; answer to the top Via.
        message = request("transports.dat")
        self.assertEqual(
            [v.transport for v in message.vias], ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
        )
        self.assertEqual(message.top_via.sent_by, ("t1.example.com", None))
        self.assertEqual(message.call_id, "transports.kijh4akdnaqjkwendsasfdj")

    def test_mpart01(self) -> None:
        # §3.1.1.11: a binary multipart body is carried intact.
        message = request("mpart01.dat")
        data = load("mpart01.dat")
        self.assertEqual(message.content_type, "multipart/mixed")
        self.assertEqual(len(message.body), 553)
        self.assertEqual(message.body, data[-553:])
        self.assertIs(message.top_via.rport, True)

    def test_unreason(self) -> None:
        # §3.1.1.12: UTF-8 reason phrase.
        message = parse("unreason.dat")
        assert isinstance(message, Response)
        self.assertEqual(message.status, 200)
        self.assertEqual(message.reason, "= 2**3 * 5**2 но сто девяносто девять - простое")
        self.assertEqual(len(message.body), 154)

    def test_noreason(self) -> None:
        # §3.1.1.13: empty reason phrase.
        message = parse("noreason.dat")
        assert isinstance(message, Response)
        self.assertEqual((message.status, message.reason), (100, ""))

    def test_badbranch(self) -> None:
        # §3.2.1: the bare cookie is no RFC 3261 branch; RFC 2543 matching applies.
        self.assertEqual(request("badbranch.dat").top_via.branch, "z9hG4bK")

    def test_unksm2(self) -> None:
        # §3.3.4: unknown schemes in To, From and Contact are legal.
        message = request("unksm2.dat")
        self.assertEqual(message.to.uri, AbsoluteURI("isbn", "2983792873"))
        self.assertEqual(message.from_.uri, AbsoluteURI("http", "//www.example.com"))
        self.assertEqual(message.contacts[0].uri, AbsoluteURI("name", "John_Smith"))

    def test_bcast(self) -> None:
        # §3.3.10: parses; never answering to 255.255.255.255 is transport policy.
        message = parse("bcast.dat")
        self.assertEqual(message.vias[1].host, "255.255.255.255")

    def test_cparam01(self) -> None:
        # §3.3.12: without <>, ";unknownparam" belongs to the Contact header field.
        (contact,) = request("cparam01.dat").contacts
        self.assertEqual(contact.uri, SipURI(user="+19725552222", host="gw1.example.net"))
        self.assertIn("unknownparam", contact.params)

    def test_cparam02(self) -> None:
        # §3.3.13: inside <>, ";unknownparam" belongs to the URI.
        (contact,) = request("cparam02.dat").contacts
        assert isinstance(contact.uri, SipURI)
        self.assertIn("unknownparam", contact.uri.params)
        self.assertEqual(len(contact.params), 0)

    def test_regescrt(self) -> None:
        # §3.3.14: an escaped header in a Contact URI inside <>.
        (contact,) = request("regescrt.dat").contacts
        assert isinstance(contact.uri, SipURI)
        self.assertEqual(contact.uri.headers, (("Route", "<sip:sip.example.com>"),))

    def test_inv2543(self) -> None:
        # §3.4.1: RFC 2543 syntax: no Max-Forwards, branch, tag or Content-Length.
        message = request("inv2543.dat")
        self.assertIsNone(message.max_forwards)
        self.assertIsNone(message.top_via.branch)
        self.assertIsNone(message.from_.tag)
        self.assertIn("user", message.to.params)
        self.assertTrue(message.body.startswith(b"v=0\r\n"))
        self.assertTrue(message.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n"))


class UASLevelMessageTests(SynchronousTestCase):
    """What the engine needs to decide its answers is there, typed."""

    def test_bext01(self) -> None:
        message = request("bext01.dat")
        self.assertEqual(
            message.headers.get_all("Require"),
            ["nothingSupportsThis", "nothingSupportsThisEither"],
        )
        self.assertEqual(len(message.headers.get_all("Proxy-Require")), 2)

    def test_invut(self) -> None:
        self.assertEqual(request("invut.dat").content_type, "application/unknownformat")

    def test_sdp01(self) -> None:
        self.assertEqual(request("sdp01.dat").headers.get_all("Accept"), ["text/nobodyKnowsThis"])

    def test_unknown_request_uri_schemes(self) -> None:
        self.assertEqual(request("unkscm.dat").request_uri.scheme, "nobodyknowsthisscheme")
        self.assertEqual(
            request("novelsc.dat").request_uri, AbsoluteURI("soap.beep", "//192.0.2.103:3002")
        )

    def test_regaut01(self) -> None:
        message = request("regaut01.dat")
        self.assertEqual(
            message.headers.get_all("Authorization"), ["NoOneKnowsThisScheme opaque-data=here"]
        )

    def test_zeromf(self) -> None:
        self.assertEqual(request("zeromf.dat").max_forwards, 0)

    def test_baddate(self) -> None:
        message = request("baddate.dat")
        self.assertEqual(message.headers.get_all("Date"), ["Fri, 01 Jan 2010 16:00:00 EST"])

    def test_regbadct(self) -> None:
        error = self.assertRaises(SIPParseError, getattr, request("regbadct.dat"), "contacts")
        self.assertEqual(error.status, 400)
