"""
RFC 5118 (SIP torture tests for IPv6) against L{parse_message}.

The wire variants (CRLF line ends, a terminated header section and a true
Content-Length, see the manifest) are what is parsed; expectations are
written here from the RFC text.
"""

import hashlib
import json
import pathlib

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import Request, SIPParseError, SipURI, parse_message

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "rfc5118"

#: file -> (method, Request-URI host, Request-URI port, top Via sent-by).
EXPECTED = {
    "ipv6-good": ("REGISTER", "2001:db8::10", None, ("2001:db8::9:1", None)),
    # §4.3: inside the brackets "5070" is part of the address, not a port.
    "port-ambiguous": ("REGISTER", "2001:db8::10:5070", None, ("2001:db8::9:1", None)),
    "port-unambiguous": ("REGISTER", "2001:db8::10", 5070, ("2001:db8::9:1", None)),
    "via-received-param-with-delim": ("BYE", "2001:db8::10", None, ("2001:db8::9:1", None)),
    "via-received-param-no-delim": ("OPTIONS", "2001:db8::10", None, ("2001:db8::9:1", None)),
    "ipv6-in-sdp": ("INVITE", "2001:db8::10", None, ("2001:db8::20", None)),
    "mult-ip-in-header": ("BYE", "host.example.net", None, ("2001:db8::9:1", 6050)),
    "mult-ip-in-sdp": ("INVITE", "2001:db8::10", None, ("2001:db8::9:1", None)),
    "ipv4-mapped-ipv6": ("INVITE", "example.com", None, ("::ffff:192.0.2.10", 19823)),
    # §4.10: the three-colon form RFC 3261's ABNF allows must be tolerated.
    "ipv6-bug-abnf-3-colons": (
        "OPTIONS",
        "2001:db8:::192.0.2.1",
        None,
        ("lab1.east.example.com", None),
    ),
    "ipv6-correct-abnf-2-colons": (
        "OPTIONS",
        "2001:db8::192.0.2.1",
        None,
        ("lab1.east.example.com", None),
    ),
}


def wire(name: str) -> bytes:
    return (DATA / "wire" / f"{name}.sip").read_bytes()


def request(name: str) -> Request:
    message = parse_message(wire(name))
    assert isinstance(message, Request)
    return message


class CorpusTests(SynchronousTestCase):
    def test_files_are_byte_exact(self) -> None:
        manifest = json.loads((DATA / "manifest.json").read_text())
        self.assertEqual(len(manifest["cases"]), 12)
        for case in manifest["cases"]:
            with self.subTest(file=case["file"]):
                raw = (DATA / case["file"]).read_bytes()
                self.assertEqual(hashlib.sha256(raw).hexdigest(), case["sha256"])
                self.assertEqual(len(raw), case["bytes"])
                cooked = (DATA / case["wire_file"]).read_bytes()
                self.assertEqual(hashlib.sha256(cooked).hexdigest(), case["wire_sha256"])

    def test_every_valid_case_has_an_expectation(self) -> None:
        manifest = json.loads((DATA / "manifest.json").read_text())
        valid = {case["file"] for case in manifest["cases"] if case["parse"] == "ok"}
        self.assertEqual(valid, set(EXPECTED))


class ParseTests(SynchronousTestCase):
    def test_valid_messages(self) -> None:
        for name, (method, host, port, sent_by) in EXPECTED.items():
            with self.subTest(name=name):
                message = request(name)
                uri = message.request_uri
                assert isinstance(uri, SipURI)
                self.assertEqual((message.method, uri.host, uri.port), (method, host, port))
                self.assertEqual(message.top_via.sent_by, sent_by)
                self.assertEqual(parse_message(bytes(message)), message)

    def test_ipv6_bad(self) -> None:
        # §4.2: an IPv6 Request-URI host without brackets: 400.
        error = self.assertRaises(SIPParseError, parse_message, wire("ipv6-bad"))
        self.assertEqual(error.status, 400)
        self.assertIsNotNone(error.partial)

    def test_contacts(self) -> None:
        hosts = {
            "ipv6-good": "2001:db8::1",
            "ipv6-in-sdp": "2001:db8::20",
            "mult-ip-in-sdp": "2001:db8::9:1",
            "ipv4-mapped-ipv6": "::ffff:192.0.2.2",
        }
        for name, host in hosts.items():
            with self.subTest(name=name):
                (contact,) = request(name).contacts
                assert isinstance(contact.uri, SipURI)
                self.assertEqual(contact.uri.host, host)

    def test_received_with_and_without_brackets(self) -> None:
        # §4.5: both forms are accepted.
        self.assertEqual(
            request("via-received-param-with-delim").top_via.received, "2001:db8::9:255"
        )
        self.assertEqual(
            request("via-received-param-no-delim").top_via.received, "2001:db8::9:255"
        )
        self.assertEqual(request("via-received-param-no-delim").top_via.branch, "z9hG4bKas3")

    def test_multiple_addresses_in_vias(self) -> None:
        # §4.7
        vias = request("mult-ip-in-header").vias
        self.assertEqual(
            [via.sent_by for via in vias],
            [("2001:db8::9:1", 6050), ("192.0.2.1", None), ("2001:db8::9:255", None)],
        )
        self.assertEqual(vias[2].received, "192.0.2.200")
        self.assertEqual(vias[2].transport, "TCP")

    def test_to_with_three_colons(self) -> None:
        to = request("ipv6-bug-abnf-3-colons").to.uri
        assert isinstance(to, SipURI)
        self.assertEqual(to.host, "2001:db8:::192.0.2.1")

    def test_sdp_bodies_are_carried(self) -> None:
        self.assertIn(b"c=IN IP6 2001:db8::20\r\n", request("ipv6-in-sdp").body)
        self.assertIn(b"c=IN IP6 ::ffff:192.0.2.2\r\n", request("ipv4-mapped-ipv6").body)

    def test_archive_files_with_bare_lf_are_rejected(self) -> None:
        # The archive form ends lines with LF only; SIP requires CRLF (RFC 3261
        # §7), and this parser does not guess.
        for name in EXPECTED:
            with self.subTest(name=name):
                error = self.assertRaises(SIPParseError, parse_message, (DATA / name).read_bytes())
                self.assertEqual(error.status, 400)
