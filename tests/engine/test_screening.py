"""The §8.2 checks a UAS makes before it reads what a request means."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine.screening import (
    ALLOW,
    Refusal,
    check_accept,
    check_body,
    check_method,
    check_require,
    check_scheme,
    media_type,
)
from roomkit_sip.sip import Headers, Request


def request(
    method: str = "INVITE",
    uri: str = "sip:bot@example.net",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> Request:
    fields = Headers()
    fields.add("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1")
    fields.add("CSeq", f"1 {method}")
    for name, value in headers:
        fields.add(name, value)
    return Request(method, uri, fields, body)


class ScreeningTests(SynchronousTestCase):
    def test_method(self) -> None:
        for method in ALLOW:
            self.assertIsNone(check_method(request(method)))
        self.assertEqual(
            check_method(request("REGISTER")), Refusal(405, headers=(("Allow", ", ".join(ALLOW)),))
        )
        self.assertEqual(check_method(request("BREW")), Refusal(501))
        self.assertEqual(
            check_method(request("invite")), Refusal(501)
        )  # methods are case-sensitive

    def test_scheme(self) -> None:
        for uri in ("sip:a@b", "sips:a@b", "tel:+15551234567"):
            self.assertIsNone(check_scheme(request(uri=uri)), uri)
        self.assertEqual(check_scheme(request(uri="mailto:a@b")), Refusal(416))
        self.assertEqual(check_scheme(request(uri="sip:")).status, 400)  # type: ignore[union-attr]

    def test_require(self) -> None:
        self.assertIsNone(check_require(request(headers=(("Require", "timer"),))))
        refusal = check_require(request(headers=(("Require", "100rel, TIMER"), ("Require", "x"))))
        self.assertEqual(refusal, Refusal(420, headers=(("Unsupported", "100rel, x"),)))
        self.assertIsNone(check_require(request("ACK", headers=(("Require", "x"),))))
        self.assertIsNone(check_require(request(headers=(("Proxy-Require", "x"),))))

    def test_body(self) -> None:
        sdp = (("Content-Type", "application/sdp"),)
        self.assertIsNone(check_body(request(headers=sdp, body=b"v=0")))
        self.assertIsNone(check_body(request(body=b"v=0")))  # no type: taken as SDP
        self.assertEqual(media_type(request(body=b"v=0")), "application/sdp")
        self.assertIsNone(media_type(request()))
        plain = (("Content-Type", "text/plain"),)
        self.assertEqual(
            check_body(request(headers=plain, body=b"hi")),
            Refusal(415, headers=(("Accept", "application/sdp"),)),
        )
        self.assertIsNone(check_body(request("INFO", headers=plain, body=b"hi")))
        gzip = (("Content-Encoding", "gzip"),)
        self.assertEqual(check_body(request(headers=gzip)).status, 415)  # type: ignore[union-attr]
        self.assertIsNone(check_body(request(headers=(("Content-Encoding", "identity"),))))
        broken = (("Content-Type", "garbage"),)
        self.assertEqual(check_body(request(headers=broken, body=b"x")).status, 400)  # type: ignore[union-attr]

    def test_accept(self) -> None:
        self.assertIsNone(check_accept(request()))
        for value in (
            "application/sdp",
            "application/*",
            "*/*",
            "text/plain, application/sdp;q=0.5",
        ):
            self.assertIsNone(check_accept(request(headers=(("Accept", value),))), value)
        self.assertEqual(check_accept(request(headers=(("Accept", "text/plain"),))).status, 406)  # type: ignore[union-attr]
        self.assertEqual(check_accept(request(headers=(("Accept", ""),))).status, 406)  # type: ignore[union-attr]
        self.assertIsNone(check_accept(request("OPTIONS", headers=(("Accept", "text/plain"),))))
