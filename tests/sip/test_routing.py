"""
L{roomkit_sip.sip.routing}: Via stamping and response destination
(RFC 3261 §18.2.1, §18.2.2, RFC 3581) and the next hop of a request
(§8.1.2, loose and strict routing, reduced RFC 3263).
"""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import Headers, Request, parse_uri
from roomkit_sip.sip.fields import parse_via
from roomkit_sip.sip.routing import (
    Hop,
    complete_via,
    default_port,
    next_hop,
    response_destination,
    set_top_via,
    stamp_via,
    uri_hop,
)

from ._txn_support import outgoing, request


class StampViaTests(SynchronousTestCase):
    def test_same_ip_unchanged(self) -> None:
        """A sent-by equal to the source address gets no received (§18.2.1)."""
        req = request(via="SIP/2.0/UDP 192.0.2.1:5060")
        via = stamp_via(req, ("192.0.2.1", 5060))
        self.assertIsNone(via.received)
        self.assertEqual(
            req.headers.get("Via"), "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbranch1"
        )

    def test_different_ip(self) -> None:
        """Another address, or a host name, earns received=<source>."""
        req = request(via="SIP/2.0/UDP 10.0.0.7:5060")
        self.assertEqual(stamp_via(req, ("198.51.100.4", 5060)).received, "198.51.100.4")
        req = request(via="SIP/2.0/UDP pc33.example.com")
        stamp_via(req, ("198.51.100.4", 5060))
        self.assertEqual(
            req.headers.get("Via"),
            "SIP/2.0/UDP pc33.example.com;branch=z9hG4bKbranch1;received=198.51.100.4",
        )

    def test_rport(self) -> None:
        """RFC 3581 §4: an empty rport is filled, and received is always added."""
        req = request(via="SIP/2.0/UDP 192.0.2.1:5060;rport")
        via = stamp_via(req, ("192.0.2.1", 40123))
        self.assertEqual((via.received, via.rport), ("192.0.2.1", 40123))
        self.assertEqual(req.top_via, via)

    def test_ipv6_equal(self) -> None:
        """IPv6 addresses compare as addresses, not text."""
        req = request(via="SIP/2.0/UDP [2001:db8::1]:5060")
        self.assertIsNone(stamp_via(req, ("2001:db8:0::1", 5060)).received)

    def test_set_top_via_keeps_others(self) -> None:
        """Only the first value changes, in a comma list or on its own line."""
        headers = Headers(
            [("Via", "SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example"),
             ("Via", "SIP/2.0/TCP c.example")]
        )  # fmt: skip
        set_top_via(headers, parse_via("SIP/2.0/UDP x.example;branch=z9hG4bK9"))
        self.assertEqual(
            headers.get_all("Via"),
            ["SIP/2.0/UDP x.example;branch=z9hG4bK9", "SIP/2.0/UDP b.example",
             "SIP/2.0/TCP c.example"],
        )  # fmt: skip

    def test_set_top_via_moves_no_line(self) -> None:
        """
        Via lines apart from one another stay where they were in the header
        block: a stamped request serialises as it arrived but for the top Via.
        """
        req = request(
            via="SIP/2.0/UDP pc.example:5060",
            extra="Via: SIP/2.0/UDP proxy.example;branch=z9hG4bKp1\r\nSubject: hi\r\n",
        )
        names = [name for name, _ in req.headers.items()]
        self.assertEqual(names.count("Via"), 2)
        self.assertNotEqual(names[-1], "Via")
        stamp_via(req, ("198.51.100.4", 5060))
        self.assertEqual([name for name, _ in req.headers.items()], names)
        self.assertEqual(
            [(v.host, v.received) for v in req.vias],
            [("pc.example", "198.51.100.4"), ("proxy.example", None)],
        )

    def test_set_top_via_without_via(self) -> None:
        headers = Headers([("Max-Forwards", "70")])
        set_top_via(headers, parse_via("SIP/2.0/UDP x.example;branch=z9hG4bK9"))
        self.assertEqual(headers.items()[0], ("Via", "SIP/2.0/UDP x.example;branch=z9hG4bK9"))


class ResponseDestinationTests(SynchronousTestCase):
    def test_received_and_sent_by_port(self) -> None:
        """UDP: received address, sent-by port (§18.2.2)."""
        via = parse_via("SIP/2.0/UDP pc.example:5070;received=198.51.100.4")
        self.assertEqual(
            response_destination(via, ("198.51.100.4", 1), "UDP"), ("198.51.100.4", 5070)
        )

    def test_default_port(self) -> None:
        """No port in sent-by: 5060 (5061 for TLS)."""
        via = parse_via("SIP/2.0/UDP 192.0.2.1")
        self.assertEqual(response_destination(via, ("192.0.2.1", 1), "UDP"), ("192.0.2.1", 5060))
        self.assertEqual(default_port("TLS"), 5061)

    def test_rport(self) -> None:
        """RFC 3581: a filled rport sends to the source IP and port."""
        via = parse_via("SIP/2.0/UDP 10.0.0.7:5060;rport=40123;received=198.51.100.4")
        self.assertEqual(
            response_destination(via, ("198.51.100.4", 40123), "UDP"), ("198.51.100.4", 40123)
        )

    def test_maddr(self) -> None:
        via = parse_via("SIP/2.0/UDP 192.0.2.1:5062;maddr=239.255.255.1")
        self.assertEqual(
            response_destination(via, ("192.0.2.1", 1), "UDP"), ("239.255.255.1", 5062)
        )

    def test_reliable_uses_connection(self) -> None:
        """TCP: back over the connection the request came on."""
        via = parse_via("SIP/2.0/TCP 10.0.0.7:5060;received=198.51.100.4")
        self.assertEqual(
            response_destination(via, ("198.51.100.4", 52000), "TCP"), ("198.51.100.4", 52000)
        )


def _req(uri: str, *routes: str) -> Request:
    headers = Headers([("Route", route) for route in routes])
    return Request("BYE", uri, headers)


class NextHopTests(SynchronousTestCase):
    def test_uri_defaults(self) -> None:
        """RFC 3263 reduced: UDP for sip, TLS for sips, default ports."""
        self.assertEqual(uri_hop(parse_uri("sip:bob@192.0.2.4")), Hop("192.0.2.4", 5060, "UDP"))
        self.assertEqual(
            uri_hop(parse_uri("sips:bob@example.com")), Hop("example.com", 5061, "TLS")
        )

    def test_uri_params(self) -> None:
        """transport, port and maddr parameters are honoured."""
        self.assertEqual(
            uri_hop(parse_uri("sip:bob@example.com:5080;transport=tcp")),
            Hop("example.com", 5080, "TCP"),
        )
        self.assertEqual(
            uri_hop(parse_uri("sip:bob@example.com;maddr=192.0.2.9")),
            Hop("192.0.2.9", 5060, "UDP"),
        )
        self.assertEqual(
            uri_hop(parse_uri("sips:bob@example.com;transport=tcp")),
            Hop("example.com", 5061, "TLS"),
        )

    def test_tel_uri_refused(self) -> None:
        self.assertRaises(ValueError, uri_hop, parse_uri("tel:+15551234"))

    def test_no_route(self) -> None:
        """No Route: the Request-URI (§8.1.2)."""
        self.assertEqual(next_hop(_req("sip:bob@192.0.2.4:5070")), Hop("192.0.2.4", 5070, "UDP"))

    def test_loose_route(self) -> None:
        """First Route with lr: the request goes there."""
        req = _req("sip:bob@192.0.2.4", "<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")
        self.assertEqual(next_hop(req), Hop("p1.example.com", 5060, "UDP"))

    def test_strict_route(self) -> None:
        """
        A strict first hop is in the Request-URI (§12.2.1.1), the target in
        the last Route: the request goes to the Request-URI.
        """
        req = _req("sip:p1.example.com:5090", "<sip:p2.example.com>", "<sip:bob@192.0.2.4>")
        self.assertEqual(next_hop(req), Hop("p1.example.com", 5090, "UDP"))


class CompleteViaTests(SynchronousTestCase):
    """The top Via of a request a client transaction sends (§8.1.1.7, §18.1.1)."""

    def setUp(self) -> None:
        self.asked: list[tuple] = []
        self.branches = iter(f"z9hG4bKnew{n}" for n in range(10))

    def local_via(self, destination, transport):
        self.asked.append((destination, transport))
        return parse_via(f"SIP/2.0/{transport} 192.0.2.10:5060")

    def complete(self, req: Request) -> None:
        complete_via(req, ("192.0.2.20", 5060), "TCP", self.local_via, lambda: next(self.branches))

    def test_no_via(self) -> None:
        """Our sent-by for that destination and transport, with a fresh branch, goes first."""
        req = outgoing("OPTIONS")
        self.complete(req)
        self.assertEqual(self.asked, [(("192.0.2.20", 5060), "TCP")])
        self.assertEqual(
            req.headers.items()[0], ("Via", "SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bKnew0")
        )

    def test_old_style_branch_replaced(self) -> None:
        """An RFC 2543 branch (no magic cookie) is replaced; the other Via values stay."""
        req = request(branch=None, via="SIP/2.0/UDP 192.0.2.1;branch=old, SIP/2.0/UDP 192.0.2.2")
        self.complete(req)
        self.assertEqual([v.branch for v in req.vias], ["z9hG4bKnew0", None])
        self.assertEqual([v.host for v in req.vias], ["192.0.2.1", "192.0.2.2"])
        self.assertEqual(self.asked, [])

    def test_rfc3261_branch_kept(self) -> None:
        """A request that already names its transaction is left alone (an ACK resent)."""
        req = request(branch="z9hG4bKmine")
        before = bytes(req)
        self.complete(req)
        self.complete(req)
        self.assertEqual(bytes(req), before)

    def test_no_via_and_no_local_via(self) -> None:
        req = outgoing("OPTIONS")
        self.assertRaises(
            ValueError, complete_via, req, ("192.0.2.20", 5060), "UDP", None, lambda: "z9hG4bKx"
        )
        self.assertNotIn("Via", req.headers)
