"""SIP over UDP: datagrams to messages, unparsable ones answered or dropped, never a raise."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import Request, Response, SIPParseError, parse_message
from roomkit_sip.testing import MemoryUDPReactor
from roomkit_sip.transport.sip_udp import SIPDatagramProtocol, error_answer, is_keepalive

PEER = ("192.0.2.10", 5062)

OPTIONS = (
    b"OPTIONS sip:bot@198.51.100.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1;rport\r\n"
    b"From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:bot@198.51.100.1>\r\n"
    b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


class ProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.delivered: list[tuple[Any, ...]] = []
        self.protocol = SIPDatagramProtocol(lambda *args: self.delivered.append(args))
        self.port = MemoryUDPReactor().listenUDP(5060, self.protocol, "198.51.100.1")

    def test_message_delivered_with_its_source(self) -> None:
        self.port.deliver(OPTIONS, PEER)
        [(message, source, transport)] = self.delivered
        self.assertIsInstance(message, Request)
        self.assertEqual((message.method, source, transport), ("OPTIONS", PEER, "UDP"))
        self.assertEqual(self.protocol.received, 1)

    def test_bad_request_answered_along_its_via(self) -> None:
        bad = OPTIONS.replace(b"Max-Forwards: 70", b"Max-Forwards: 700")
        self.port.deliver(bad, ("192.0.2.99", 40000))
        [(data, addr)] = self.port.take_written()
        response = parse_message(data)
        assert isinstance(response, Response)
        self.assertEqual((response.status, addr), (400, ("192.0.2.99", 40000)))  # RFC 3581
        self.assertEqual(response.top_via.received, "192.0.2.99")
        self.assertIsNotNone(response.to.tag)
        self.assertTrue(response.headers.get("Warning").startswith('399 - "'))
        self.assertEqual((self.delivered, self.protocol.parse_errors), ([], 1))

    def test_other_version_505(self) -> None:
        self.port.deliver(OPTIONS.replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1), PEER)
        [(data, _)] = self.port.take_written()
        self.assertTrue(data.startswith(b"SIP/2.0 505 "))

    def test_unanswerable_dropped(self) -> None:
        for data in (b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", b"\xff" * 64, b"INVITE\r\n\r\n"):
            self.port.deliver(data, PEER)
        self.assertEqual((self.port.take_written(), self.delivered), ([], []))

    def test_keepalives_ignored(self) -> None:
        self.assertTrue(is_keepalive(b"\r\n\r\n"))
        self.assertTrue(is_keepalive(b"\x00\x00\x00\x00"))
        self.assertFalse(is_keepalive(OPTIONS))
        self.port.deliver(b"\r\n\r\n", PEER)
        self.assertEqual((self.protocol.parse_errors, self.delivered), (0, []))

    def test_consumer_errors_stay_inside(self) -> None:
        def broken(*args: Any) -> None:
            raise RuntimeError("bug")

        protocol = SIPDatagramProtocol(broken)
        port = MemoryUDPReactor().listenUDP(5060, protocol)
        port.deliver(OPTIONS, PEER)
        self.assertEqual(protocol.deliver_errors, 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_send(self) -> None:
        self.protocol.send(b"hello", PEER)
        self.assertEqual(self.port.take_written(), [(b"hello", PEER)])
        self.port.stopListening()
        self.assertRaises(ConnectionError, self.protocol.send, b"hello", PEER)

    def test_error_answer_needs_something_to_answer(self) -> None:
        ack = OPTIONS.replace(b"OPTIONS", b"ACK").replace(b"Max-Forwards: 70", b"Max-Forwards: x")
        error = self.assertRaises(SIPParseError, parse_message, ack)
        self.assertIsNone(error_answer(error, PEER, "UDP"))
        self.assertIsNone(error_answer(SIPParseError(detail="nothing"), PEER, "UDP"))
