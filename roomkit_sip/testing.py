"""
Public test doubles for code built on roomkit-sip.

L{twisted.internet.testing.MemoryReactorClock} has no C{listenUDP}, and every
layer above the sans-IO core listens on UDP (SIP and RTP).  L{MemoryUDPReactor}
adds it: datagram "ports" are in-memory objects that record what the protocol
wrote and let a test deliver datagrams, so protocols, the media engine and the
call engine can be driven with a fake clock and no sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorUDP, IUDPTransport
from twisted.internet.protocol import AbstractDatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from zope.interface import implementer

__all__ = ["MemoryDatagramPort", "MemoryUDPReactor"]

Addr = tuple[str, int]


@implementer(IUDPTransport, IListeningPort)
@dataclass(eq=False)
class MemoryDatagramPort:
    """
    An in-memory UDP port: the transport a L{DatagramProtocol} writes to.

    @ivar written: every C{(datagram, address)} the protocol sent, in order.
    @ivar listening: C{False} once L{stopListening} was called.
    """

    reactor: MemoryUDPReactor
    protocol: AbstractDatagramProtocol
    interface: str
    port: int
    max_packet_size: int = 8192
    written: list[tuple[bytes, Addr]] = field(default_factory=list)
    listening: bool = True
    connected_to: Addr | None = None

    # IUDPTransport
    def write(self, packet: bytes, addr: Addr | None = None) -> None:
        if not self.listening:
            raise RuntimeError("write on a closed datagram port")
        if addr is None:
            if self.connected_to is None:
                raise ValueError("no destination for an unconnected datagram port")
            addr = self.connected_to
        self.written.append((bytes(packet), addr))

    def connect(self, host: str, port: int) -> None:
        self.connected_to = (host, port)

    def getHost(self) -> IPv4Address | IPv6Address:
        if ":" in self.interface:
            return IPv6Address("UDP", self.interface, self.port)
        return IPv4Address("UDP", self.interface or "0.0.0.0", self.port)

    def stopListening(self) -> None:
        """Close the port: the protocol is told, the port number is free again."""
        if not self.listening:
            return None
        self.listening = False
        self.reactor._release(self)
        self.protocol.doStop()
        return None

    loseConnection = stopListening

    def startListening(self) -> None:
        """Already listening: L{MemoryUDPReactor.listenUDP} binds on creation."""

    def setBroadcastAllowed(self, enabled: bool) -> None:
        self.broadcast_allowed = enabled

    def getBroadcastAllowed(self) -> bool:
        return getattr(self, "broadcast_allowed", False)

    # test helpers
    def deliver(self, data: bytes, addr: Addr) -> None:
        """Hand C{data} to the protocol as if it arrived from C{addr}."""
        if not self.listening:
            raise RuntimeError("delivery to a closed datagram port")
        self.protocol.datagramReceived(data, addr)

    def take_written(self) -> list[tuple[bytes, Addr]]:
        """Return and forget what the protocol wrote so far."""
        out, self.written = self.written, []
        return out


@implementer(IReactorUDP)
class MemoryUDPReactor(MemoryReactorClock):
    """
    L{MemoryReactorClock} plus in-memory UDP.

    Port 0 picks the next free ephemeral number; binding a port that is in use
    (or listed in L{unavailable}) raises L{CannotListenError}, as a real
    reactor would, so port allocators can be tested.
    """

    def __init__(self) -> None:
        super().__init__()
        self.udp_ports: dict[tuple[str, int], MemoryDatagramPort] = {}
        self.unavailable: set[int] = set()
        self._next_ephemeral = 40000

    def listenUDP(
        self,
        port: int,
        protocol: AbstractDatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
    ) -> MemoryDatagramPort:
        if port == 0:
            port = self._ephemeral(interface)
        if port in self.unavailable or self._in_use(interface, port):
            raise CannotListenError(interface, port, OSError("address already in use"))
        udp = MemoryDatagramPort(self, protocol, interface, port, maxPacketSize)
        self.udp_ports[(interface, port)] = udp
        protocol.makeConnection(udp)
        return udp

    def udp_port(self, port: int, interface: str | None = None) -> MemoryDatagramPort:
        """The open port numbered C{port} (on C{interface}, if given)."""
        for (iface, number), udp in self.udp_ports.items():
            if number == port and (interface is None or iface == interface):
                return udp
        raise KeyError(port)

    def _in_use(self, interface: str, port: int) -> bool:
        wildcard = ("", "0.0.0.0", "::")
        return any(
            number == port and (iface == interface or iface in wildcard or interface in wildcard)
            for iface, number in self.udp_ports
        )

    def _ephemeral(self, interface: str) -> int:
        while self._in_use(interface, self._next_ephemeral) or (
            self._next_ephemeral in self.unavailable
        ):
            self._next_ephemeral += 1
        port, self._next_ephemeral = self._next_ephemeral, self._next_ephemeral + 1
        return port

    def _release(self, udp: MemoryDatagramPort) -> None:
        self.udp_ports.pop((udp.interface, udp.port), None)
