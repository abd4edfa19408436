"""
C{twistd roomkit-sip}: command-line options and the service they build.

Foundation version: it binds the SIP UDP port and logs what arrives.  The call
engine replaces the protocol with the real UAS.
"""

from twisted.application import internet, service
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python import usage


class Options(usage.Options):
    optParameters = [
        ["sip-interface", None, "0.0.0.0", "Address to bind the SIP listener to."],
        ["sip-port", None, 5060, "SIP port (UDP).", int],
    ]


class _LoggingSIPProtocol(DatagramProtocol):
    _log = Logger()

    def datagramReceived(self, data: bytes, addr: tuple) -> None:
        self._log.info("{size} bytes from {addr}", size=len(data), addr=addr)


def makeService(options: Options) -> service.IService:
    return internet.UDPServer(
        options["sip-port"], _LoggingSIPProtocol(), interface=options["sip-interface"]
    )
