"""The RTP/RTCP datagram protocols only forward and send."""

from __future__ import annotations

from twisted.internet import defer, reactor
from twisted.internet.error import MessageLengthError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from roomkit_sip.testing import MemoryUDPReactor
from roomkit_sip.transport.rtp import RTCPProtocol, RTPProtocol

HOST = "127.0.0.1"
PEER = (HOST, 40000)


class FailingTransport:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def write(self, data, addr):
        raise self.error


class ProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryUDPReactor()
        self.reactor.advance(12.5)
        self.proto = RTPProtocol(self.reactor)
        self.port = self.reactor.listenUDP(20000, self.proto, interface=HOST)

    def test_forwards_with_source_and_time(self) -> None:
        got = []
        self.proto.attach(lambda data, addr, now: got.append((data, addr, now)))
        self.port.deliver(b"\x80\x00abc", PEER)
        self.assertEqual(got, [(b"\x80\x00abc", PEER, 12.5)])

    def test_unattached_counted(self) -> None:
        self.port.deliver(b"x", PEER)
        got = []
        self.proto.attach(lambda *a: got.append(a))
        self.proto.detach()
        self.port.deliver(b"y", PEER)
        self.assertEqual((self.proto.unattached, got), (2, []))

    def test_receiver_error_never_reaches_the_reactor(self) -> None:
        self.proto.attach(lambda data, addr, now: 1 / 0)
        self.port.deliver(b"x", PEER)
        self.assertEqual(self.proto.receiver_errors, 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_sendto(self) -> None:
        self.assertTrue(self.proto.sendto(b"data", PEER))
        self.assertEqual(self.port.take_written(), [(b"data", PEER)])

    def test_send_errors_counted_not_raised(self) -> None:
        for error in (OSError(101, "unreachable"), MessageLengthError("too long")):
            self.proto.transport = FailingTransport(error)
            self.assertFalse(self.proto.sendto(b"data", PEER))
        self.assertEqual(self.proto.send_errors, 2)

    def test_send_without_transport(self) -> None:
        proto = RTCPProtocol(self.reactor)
        self.assertFalse(proto.sendto(b"data", PEER))
        self.assertEqual(proto.send_errors, 1)


class RealSocketTests(TestCase):
    """A datagram crosses a real 127.0.0.1 socket pair, both ways."""

    @defer.inlineCallbacks
    def test_round_trip(self) -> None:
        a, b = RTPProtocol(reactor), RTCPProtocol(reactor)
        port_a = reactor.listenUDP(0, a, interface=HOST)
        port_b = reactor.listenUDP(0, b, interface=HOST)
        self.addCleanup(port_a.stopListening)
        self.addCleanup(port_b.stopListening)
        got: defer.Deferred = defer.Deferred()
        b.attach(lambda data, addr, now: b.sendto(data[::-1], addr))
        a.attach(lambda data, addr, now: got.callback((data, addr, now)))
        before = reactor.seconds()
        self.assertTrue(a.sendto(b"ping", (HOST, port_b.getHost().port)))
        data, addr, now = yield got.addTimeout(5, reactor)
        self.assertEqual((data, addr), (b"gnip", (HOST, port_b.getHost().port)))
        self.assertGreaterEqual(now, before)

    def test_socket_error_on_a_real_port_is_counted(self) -> None:
        """The direct socket write still turns errors into a count (IPv6 on an IPv4 socket)."""
        proto = RTPProtocol(reactor)
        port = reactor.listenUDP(0, proto, interface=HOST)
        self.addCleanup(port.stopListening)
        self.assertFalse(proto.sendto(b"x", ("::1", 9)))
        self.assertEqual(proto.send_errors, 1)
