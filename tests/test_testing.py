"""The public test doubles in L{roomkit_sip.testing} behave like real UDP ports."""

from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorTime, IReactorUDP, IUDPTransport
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.testing import MemoryUDPReactor


class Echo(DatagramProtocol):
    started = stopped = 0

    def startProtocol(self) -> None:
        self.started += 1

    def stopProtocol(self) -> None:
        self.stopped += 1

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.write(data.upper(), addr)


class MemoryUDPReactorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryUDPReactor()

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IReactorUDP, self.reactor))
        self.assertTrue(verifyObject(IReactorTime, self.reactor))
        port = self.reactor.listenUDP(5060, Echo(), interface="127.0.0.1")
        self.assertTrue(verifyObject(IUDPTransport, port))
        self.assertTrue(verifyObject(IListeningPort, port))

    def test_deliver_and_written(self) -> None:
        proto = Echo()
        port = self.reactor.listenUDP(5060, proto, interface="127.0.0.1")
        self.assertEqual(proto.started, 1)
        port.deliver(b"options", ("10.0.0.1", 5062))
        self.assertEqual(port.take_written(), [(b"OPTIONS", ("10.0.0.1", 5062))])
        self.assertEqual(port.written, [])
        self.assertEqual(port.getHost().port, 5060)

    def test_port_in_use(self) -> None:
        self.reactor.listenUDP(5060, Echo(), interface="127.0.0.1")
        self.assertRaises(CannotListenError, self.reactor.listenUDP, 5060, Echo(), "0.0.0.0")
        self.reactor.unavailable.add(5062)
        self.assertRaises(CannotListenError, self.reactor.listenUDP, 5062, Echo(), "127.0.0.1")

    def test_ephemeral_and_release(self) -> None:
        proto = Echo()
        first = self.reactor.listenUDP(0, proto, interface="127.0.0.1")
        second = self.reactor.listenUDP(0, Echo(), interface="127.0.0.1")
        self.assertNotEqual(first.port, second.port)
        first.stopListening()
        first.stopListening()
        self.assertEqual(proto.stopped, 1)
        self.assertRaises(KeyError, self.reactor.udp_port, first.port)
        self.assertIs(self.reactor.listenUDP(first.port, Echo(), "127.0.0.1").port, first.port)
        self.assertRaises(RuntimeError, first.deliver, b"late", ("10.0.0.1", 1))
