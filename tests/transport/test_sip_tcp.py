"""
SIP over TCP: framing by Content-Length, keep-alive pongs, framing errors
that close the connection, the connection table (reuse, dialling out,
failures), idle timeouts; and one real connection on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from roomkit_sip.sip import Request, parse_message
from roomkit_sip.transport.sip_tcp import ConnectionTable, SIPStreamProtocol

PEER = ("192.0.2.10", 40123)

OPTIONS = (
    b"OPTIONS sip:bot@198.51.100.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK-1\r\n"
    b"From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:bot@198.51.100.1>\r\n"
    b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


class Fixture:
    def __init__(self, idle_timeout: float = 600.0) -> None:
        self.reactor = MemoryReactorClock()
        self.delivered: list[tuple[Any, ...]] = []
        self.failures: list[tuple[str, int]] = []
        self.table = ConnectionTable(
            self.reactor,
            lambda *args: self.delivered.append(args),
            self.failures.append,
            idle_timeout=idle_timeout,
        )

    def connect(self, peer: tuple[str, int] = PEER) -> tuple[SIPStreamProtocol, StringTransport]:
        proto = self.table.buildProtocol(IPv4Address("TCP", *peer))
        assert proto is not None
        transport = StringTransport(peerAddress=IPv4Address("TCP", *peer))
        proto.makeConnection(transport)
        return proto, transport


class StreamTests(SynchronousTestCase):
    def test_messages_cut_by_content_length(self) -> None:
        f = Fixture()
        proto, _ = f.connect()
        body_message = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 5") + b"hello"
        stream = OPTIONS + body_message + OPTIONS
        cut = len(OPTIONS) + 20
        proto.dataReceived(stream[:10])
        self.assertEqual(f.delivered, [])
        proto.dataReceived(stream[10:cut])
        self.assertEqual(len(f.delivered), 1)
        proto.dataReceived(stream[cut:])
        self.assertEqual([m.body for m, _, _ in f.delivered], [b"", b"hello", b""])
        self.assertEqual({(source, kind) for _, source, kind in f.delivered}, {(PEER, "TCP")})

    def test_ping_pong(self) -> None:
        f = Fixture()
        proto, transport = f.connect()
        proto.dataReceived(b"\r\n\r\n")
        self.assertEqual(transport.value(), b"\r\n")

    def test_framing_error_answered_then_closed(self) -> None:
        f = Fixture()
        proto, transport = f.connect()
        proto.dataReceived(OPTIONS.replace(b"Content-Length: 0\r\n", b""))
        response = parse_message(transport.value())
        self.assertEqual(response.status, 400)  # type: ignore[union-attr]
        self.assertTrue(transport.disconnecting)
        self.assertEqual(f.delivered, [])

    def test_bad_message_answered_connection_kept(self) -> None:
        f = Fixture()
        proto, transport = f.connect()
        proto.dataReceived(OPTIONS.replace(b"Max-Forwards: 70", b"Max-Forwards: 700") + OPTIONS)
        self.assertTrue(transport.value().startswith(b"SIP/2.0 400 "))
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(f.delivered), 1)

    def test_consumer_errors_stay_inside(self) -> None:
        table = ConnectionTable(MemoryReactorClock(), lambda *a: 1 / 0)
        proto = table.buildProtocol(None)
        assert proto is not None
        proto.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", *PEER)))
        proto.dataReceived(OPTIONS)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class TableTests(SynchronousTestCase):
    def test_reuses_the_peer_connection(self) -> None:
        f = Fixture()
        proto, transport = f.connect()
        self.assertTrue(f.table.has(PEER))
        f.table.send(b"answer", PEER)
        self.assertEqual(transport.value(), b"answer")
        self.assertEqual(f.reactor.tcpClients, [])
        proto.connectionLost(Failure(ConnectionError("gone")))
        self.assertFalse(f.table.has(PEER))
        self.assertEqual(len(f.table), 0)

    def test_dials_and_queues_until_connected(self) -> None:
        f = Fixture()
        target = ("192.0.2.20", 5060)
        f.table.send(b"one", target)
        f.table.send(b"two", target)
        [(host, port, dialer, timeout, _)] = f.reactor.tcpClients
        self.assertEqual((host, port), target)
        proto = dialer.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", *target))
        proto.makeConnection(transport)
        self.assertEqual(transport.value(), b"onetwo")
        f.table.send(b"three", target)
        self.assertEqual(transport.value(), b"onetwothree")
        self.assertEqual(len(f.reactor.tcpClients), 1)

    def test_dial_failure_reported(self) -> None:
        f = Fixture()
        f.table.send(b"one", ("192.0.2.30", 5060))
        [(_, _, dialer, _, _)] = f.reactor.tcpClients
        dialer.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        self.assertEqual(f.failures, [("192.0.2.30", 5060)])
        f.table.send(b"again", ("192.0.2.30", 5060))  # a new attempt
        self.assertEqual(len(f.reactor.tcpClients), 2)

    def test_idle_connections_close(self) -> None:
        f = Fixture(idle_timeout=30.0)
        proto, transport = f.connect()
        f.reactor.advance(20)
        proto.dataReceived(b"\r\n\r\n")  # traffic: the period restarts
        f.reactor.advance(20)
        self.assertFalse(transport.disconnecting)
        f.reactor.advance(10.5)
        self.assertTrue(transport.disconnecting)
        proto.connectionLost(Failure(ConnectionError("closed")))
        self.assertEqual(f.reactor.getDelayedCalls(), [])

    def test_close(self) -> None:
        f = Fixture()
        proto, transport = f.connect()
        closed = f.table.close()
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(closed)
        proto.connectionLost(Failure(ConnectionError("closed")))
        self.successResultOf(closed)
        self.assertIsNone(f.table.buildProtocol(None))
        self.assertRaises(ConnectionError, f.table.send, b"x", PEER)
        self.successResultOf(Fixture().table.close())


class _Client(protocol.Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.got: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if b"\r\n\r\n" in self.received and not self.got.called:
            self.got.callback(self.received)


class RealSocketTests(TestCase):
    """One real TCP connection on 127.0.0.1: a request in, its answer back on it."""

    @defer.inlineCallbacks
    def test_request_and_answer_over_one_connection(self):
        messages: list[Request] = []
        table: ConnectionTable

        def deliver(message: Any, source: tuple[str, int], kind: str) -> None:
            messages.append(message)
            table.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", source)

        table = ConnectionTable(reactor, deliver, idle_timeout=5.0)
        port = reactor.listenTCP(0, table, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = _Client()
        endpoint = protocol.ClientCreator(reactor, lambda: client)
        yield endpoint.connectTCP("127.0.0.1", port.getHost().port)
        client.transport.write(OPTIONS)
        answer = yield client.got
        self.assertTrue(answer.startswith(b"SIP/2.0 200 OK"))
        self.assertEqual([m.method for m in messages], ["OPTIONS"])
        self.assertEqual(len(table), 1)
        yield table.close()
        self.assertEqual(len(table), 0)
