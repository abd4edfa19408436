"""
The engine's SIP transports: one port for UDP and TCP, the §18.1.1 switch
to TCP for large requests, host names resolved before sending, and the
addresses written in Via and Contact.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import fail, succeed
from twisted.internet.error import CannotListenError, DNSLookupError
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine.transports import MTU_LIMIT, SIPTransports
from roomkit_sip.sip import Headers, Request, make_response
from roomkit_sip.testing import MemoryUDPReactor
from roomkit_sip.transport.addressing import LocalAddresses

HOST = "198.51.100.1"
PEER = ("192.0.2.10", 5062)


def request(size: int = 0) -> Request:
    headers = Headers()
    headers.add("Via", f"SIP/2.0/UDP {HOST}:5060;rport;branch=z9hG4bK-big")
    headers.add("From", f"<sip:bot@{HOST}>;tag=1")
    headers.add("To", "<sip:alice@192.0.2.10>;tag=2")
    headers.add("Call-ID", "c1")
    headers.add("CSeq", "2 INFO")
    headers.add("Max-Forwards", "70")
    return Request("INFO", "sip:alice@192.0.2.10:5062", headers, b"x" * size)


class Fixture:
    def __init__(self, transports: tuple[str, ...] = ("udp", "tcp"), **kw: Any) -> None:
        self.reactor = MemoryUDPReactor()
        self.failed: list[tuple[Any, ...]] = []
        self.t = SIPTransports(
            self.reactor,
            HOST,
            5060,
            transports,
            LocalAddresses(HOST, kw.pop("advertised", None)),
            on_failure=lambda *args: self.failed.append(args),
        )
        self.t.start()
        self.udp = self.reactor.udp_port(5060)


class SendTests(SynchronousTestCase):
    def test_large_request_goes_over_tcp(self) -> None:
        f = Fixture()
        big = request(MTU_LIMIT)
        f.t.send(big, PEER, "UDP")
        self.assertEqual(f.udp.take_written(), [])
        [(host, port, dialer, _, _)] = f.reactor.tcpClients
        self.assertEqual((host, port), PEER)
        self.assertEqual(big.top_via.transport, "TCP")  # §18.1.1: Via says so
        proto = dialer.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", *PEER))
        proto.makeConnection(transport)
        self.assertEqual(transport.value(), bytes(big))

    def test_large_request_stays_on_udp_without_tcp(self) -> None:
        f = Fixture(("udp",))
        f.t.send(request(MTU_LIMIT), PEER, "UDP")
        self.assertEqual(len(f.udp.take_written()), 1)

    def test_responses_and_small_requests_stay_on_udp(self) -> None:
        f = Fixture()
        f.t.send(request(10), PEER, "UDP")
        f.t.send(make_response(request(MTU_LIMIT), 200), PEER, "UDP")
        self.assertEqual(len(f.udp.take_written()), 2)
        self.assertEqual(f.reactor.tcpClients, [])

    def test_disabled_transport_raises(self) -> None:
        f = Fixture(("udp",))
        self.assertRaises(ConnectionError, f.t.send, request(), PEER, "TCP")
        self.assertRaises(ConnectionError, f.t.send, request(), PEER, "TLS")

    def test_host_names_are_resolved(self) -> None:
        f = Fixture()
        f.reactor.resolve = lambda name, timeout=10: succeed("192.0.2.44")  # type: ignore
        f.t.send(request(), ("pbx.example.net", 5080), "UDP")
        [(_, addr)] = f.udp.take_written()
        self.assertEqual(addr, ("192.0.2.44", 5080))

    def test_unresolvable_name_is_a_transport_failure(self) -> None:
        f = Fixture()
        f.reactor.resolve = lambda name, timeout=10: fail(DNSLookupError(name))  # type: ignore
        f.t.send(request(), ("nowhere.invalid", 5060), "UDP")
        self.assertEqual(f.failed, [(("nowhere.invalid", 5060), "UDP")])


class AddressTests(SynchronousTestCase):
    def test_via_and_contact(self) -> None:
        f = Fixture()
        self.assertEqual(str(f.t.local_via(PEER, "udp")), f"SIP/2.0/UDP {HOST}:5060;rport")
        self.assertEqual(str(f.t.contact("192.0.2.10", "UDP")), f"<sip:{HOST}:5060>")
        self.assertEqual(str(f.t.contact("192.0.2.10", "TCP")), f"<sip:{HOST}:5060;transport=tcp>")

    def test_advertised_address(self) -> None:
        f = Fixture(advertised="203.0.113.9")
        self.assertEqual(f.t.local_via(PEER, "UDP").host, "203.0.113.9")
        self.assertEqual(f.t.local_host("192.0.2.10"), "203.0.113.9")

    def test_port_zero_binds_both_on_one_port(self) -> None:
        reactor = MemoryUDPReactor()
        t = SIPTransports(reactor, HOST, 0, ("udp", "tcp"), LocalAddresses(HOST))
        host, port = t.start()
        [tcp] = reactor.tcpServers
        self.assertEqual((host, tcp[0]), (HOST, port))

    def test_bind_failure(self) -> None:
        reactor = MemoryUDPReactor()
        reactor.unavailable.add(5060)
        t = SIPTransports(reactor, HOST, 5060, ("udp",), LocalAddresses(HOST))
        self.assertRaises(CannotListenError, t.start)
        self.assertRaises(RuntimeError, lambda: t.port)
