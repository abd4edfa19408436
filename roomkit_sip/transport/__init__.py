"""
The Twisted transport layer: datagram protocols that only move bytes between
sockets and the sans-IO core, and the RTP port allocator.
"""

from roomkit_sip.transport.ports import PortPair, PortsExhausted, RTPPortAllocator
from roomkit_sip.transport.rtp import RTCPProtocol, RTPProtocol

__all__ = ["PortPair", "PortsExhausted", "RTCPProtocol", "RTPPortAllocator", "RTPProtocol"]
