"""RTPPortAllocator: even pairs, busy ports skipped, quarantine, rotation, exhaustion."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from roomkit_sip.testing import MemoryUDPReactor
from roomkit_sip.transport.ports import PortsExhausted, RTPPortAllocator
from roomkit_sip.transport.rtp import RTCPProtocol, RTPProtocol

HOST = "127.0.0.1"


class CountingReactor(MemoryUDPReactor):
    """Counts bind attempts, successful or not."""

    def __init__(self) -> None:
        super().__init__()
        self.binds = 0

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        self.binds += 1
        return super().listenUDP(port, protocol, interface, maxPacketSize)


class AllocatorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = CountingReactor()

    def allocator(self, start: int = 10000, end: int = 10010, **kw) -> RTPPortAllocator:
        return RTPPortAllocator(self.reactor, HOST, start, end, **kw)

    def test_even_pair_bound_with_given_protocols(self) -> None:
        made = []

        class Tagged(RTPProtocol):
            def __init__(self, clock) -> None:
                super().__init__(clock)
                made.append(self)

        pair = self.allocator(rtp_protocol=Tagged).allocate()
        self.assertEqual((pair.rtp_port, pair.rtcp_port), (10000, 10001))
        self.assertEqual(made, [pair.rtp])
        self.assertIs(self.reactor.udp_ports[(HOST, 10000)].protocol, pair.rtp)
        self.assertIs(self.reactor.udp_ports[(HOST, 10001)].protocol, pair.rtcp)
        self.assertIsInstance(pair.rtcp, RTCPProtocol)
        self.assertIs(pair.rtp.transport, self.reactor.udp_port(pair.rtp_port))
        self.assertEqual(pair.interface, HOST)

    def test_odd_start_rounds_up_and_pairs_stay_inside(self) -> None:
        alloc = self.allocator(10001, 10006)
        ports = [alloc.allocate().rtp_port for _ in range(2)]
        self.assertEqual(ports, [10002, 10004])
        self.assertRaises(PortsExhausted, alloc.allocate)  # 10006 would need 10007

    def test_rtp_port_held_elsewhere_is_skipped(self) -> None:
        self.reactor.listenUDP(10000, DatagramProtocol(), interface=HOST)
        pair = self.allocator().allocate()
        self.assertEqual(pair.rtp_port, 10002)

    def test_rtcp_port_held_elsewhere_skips_the_pair_and_unbinds_rtp(self) -> None:
        self.reactor.unavailable.add(10001)
        alloc = self.allocator()
        pair = alloc.allocate()
        self.assertEqual(pair.rtp_port, 10002)
        self.assertNotIn((HOST, 10000), self.reactor.udp_ports)
        self.assertEqual(alloc.refused, 1)
        # The pair got protocols that never served the closed port.
        self.assertIs(pair.rtp.transport, self.reactor.udp_port(10002))

    def test_refused_port_goes_to_the_back(self) -> None:
        self.reactor.unavailable.add(10000)
        alloc = self.allocator(10000, 10006)
        first = alloc.allocate()
        self.reactor.unavailable.clear()
        second = alloc.allocate()
        third = alloc.allocate()
        self.assertEqual([p.rtp_port for p in (first, second, third)], [10002, 10004, 10000])

    def test_quarantine_keeps_a_released_pair(self) -> None:
        alloc = self.allocator(10000, 10004, quarantine=5.0)
        a, b = alloc.allocate(), alloc.allocate()
        self.successResultOf(a.release())
        self.assertNotIn((HOST, a.rtp_port), self.reactor.udp_ports)
        self.assertNotIn((HOST, a.rtcp_port), self.reactor.udp_ports)
        self.assertEqual(
            alloc.stats(), {"allocated": 1, "in_quarantine": 1, "free": 0, "refused": 0}
        )
        self.reactor.advance(4.9)
        self.assertRaises(PortsExhausted, alloc.allocate)
        self.reactor.advance(0.2)
        self.assertEqual(alloc.in_quarantine, 0)
        self.assertEqual(alloc.allocate().rtp_port, a.rtp_port)
        self.assertTrue(b.rtp.transport.listening)

    def test_rotation(self) -> None:
        """A released port comes back only after every other free port had its turn."""
        alloc = self.allocator(10000, 10008, quarantine=0.0)
        handed = []
        for _ in range(8):
            pair = alloc.allocate()
            handed.append(pair.rtp_port)
            pair.release()
        self.assertEqual(handed, [10000, 10002, 10004, 10006] * 2)

    def test_exhaustion(self) -> None:
        alloc = self.allocator(10000, 10004)
        alloc.allocate()
        alloc.allocate()
        e = self.assertRaises(PortsExhausted, alloc.allocate)
        self.assertIn("2 in use", str(e))
        self.assertEqual((alloc.allocated, alloc.free, alloc.capacity), (2, 0, 2))

    def test_bounded_binds_per_allocation(self) -> None:
        """5000 pairs all held by others: one allocation tries 16, not 5000."""
        self.reactor.unavailable.update(range(10000, 20000))
        alloc = self.allocator(10000, 20000)
        self.assertRaises(PortsExhausted, alloc.allocate)
        self.assertEqual(self.reactor.binds, 16)
        self.assertEqual(alloc.free, 5000)

    def test_release_idempotent(self) -> None:
        alloc = self.allocator(quarantine=1.0)
        pair = alloc.allocate()
        stopped = []
        pair.rtp.doStop = lambda: stopped.append("rtp")
        self.assertIsNone(self.successResultOf(pair.release()))
        self.assertIsNone(self.successResultOf(pair.release()))
        self.assertTrue(pair.released)
        self.assertEqual(stopped, ["rtp"])
        self.assertEqual((alloc.allocated, alloc.in_quarantine), (0, 1))

    def test_bad_arguments(self) -> None:
        for start, end in ((10000, 10001), (10001, 10003), (0, 10), (10000, 70000)):
            self.assertRaises(ValueError, RTPPortAllocator, self.reactor, HOST, start, end)
        self.assertRaises(ValueError, self.allocator, quarantine=-1)
        self.assertRaises(ValueError, self.allocator, max_attempts=0)


class RealSocketTests(TestCase):
    """The OS refusing a bound port is what makes the allocator skip it."""

    def test_port_bound_by_another_socket_is_skipped(self) -> None:
        blocker = reactor.listenUDP(0, DatagramProtocol(), interface=HOST)
        self.addCleanup(blocker.stopListening)
        busy = blocker.getHost().port
        first = busy - busy % 2
        alloc = RTPPortAllocator(reactor, HOST, first, first + 40)
        try:
            pair = alloc.allocate()
        except PortsExhausted:
            self.skipTest("every port near the blocker is taken")
        self.addCleanup(pair.release)
        self.assertNotIn(busy, (pair.rtp_port, pair.rtcp_port))
        self.assertGreaterEqual(alloc.refused, 1)
        # Both sockets are really bound: binding them again fails.
        for port in (pair.rtp_port, pair.rtcp_port):
            self.assertRaises(
                CannotListenError, reactor.listenUDP, port, DatagramProtocol(), interface=HOST
            )
        return pair.release()
