# -*- test-case-name: tests.sip.test_framing -*-
"""
L{StreamFramer}: cut a SIP byte stream (TCP, TLS) into whole messages.

On a stream the header section ends at the first empty line and the body is
exactly Content-Length octets, which is therefore mandatory (RFC 3261
§18.3, §20.14).  CRLFs between messages are tolerated (§7.5), and a double
CRLF there is an RFC 5626 §3.5.1 keep-alive "ping" the peer expects a single
CRLF "pong" for.
"""

from __future__ import annotations

import re

from roomkit_sip.sip.errors import SIPFramingError
from roomkit_sip.sip.parser import salvage_request

__all__ = ["PING", "PONG", "StreamFramer"]

#: A keep-alive ping as returned by L{StreamFramer.feed} (RFC 5626 §3.5.1).
PING = b"\r\n\r\n"
#: What to write back for a L{PING}.
PONG = b"\r\n"

# Content-Length = ( "Content-Length" / "l" ) HCOLON 1*DIGIT, possibly folded
# (§7.3.1).  Matched on the raw header section, which follows the start line,
# so every header field line is preceded by CRLF.
_CONTENT_LENGTH_RE = re.compile(
    rb"\r\n(?:content-length|l)[ \t]*:((?:[^\r\n]|\r\n[ \t])*)", re.IGNORECASE
)


class StreamFramer:
    """
    Accumulate stream bytes and hand out complete messages.

    Feed whatever the connection delivered to L{feed}; it returns the
    messages completed so far (each ready for
    L{roomkit_sip.sip.parse_message}) and L{PING} for every keep-alive ping.
    A framing error means message boundaries are lost: the framer stays
    broken and the connection must be closed.

    @ivar max_header_bytes: the largest header section accepted.
    @ivar max_body_bytes: the largest Content-Length accepted.
    """

    def __init__(self, max_header_bytes: int = 65536, max_body_bytes: int = 1 << 20) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._scanned = 0
        self._need: int | None = None
        self._error: SIPFramingError | None = None

    @property
    def buffered(self) -> int:
        """How many received octets wait for the rest of their message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add received bytes.

        @return: the complete messages (and L{PING}s) now available, in order.
        @raise SIPFramingError: missing or malformed Content-Length (400), or a
            header section or body over the limits (513).  Its C{partial} is
            set when the header section was complete and answerable.  Every
            later call raises the same error.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while buffer:
            if self._need is None:
                if buffer[:2] == b"\r\n":
                    if buffer[:4] == PING:
                        out.append(PING)
                        del buffer[:4]
                    elif len(buffer) < 4 and PING.startswith(buffer):
                        break  # maybe the first half of a ping
                    else:
                        del buffer[:2]  # a lone CRLF: a pong, or §7.5 padding
                    self._scanned = 0
                    continue
                end = buffer.find(b"\r\n\r\n", max(0, self._scanned - 3))
                if end < 0:
                    self._scanned = len(buffer)
                    if len(buffer) > self.max_header_bytes:
                        self._fail(513, "header section too large", None)
                    break
                if end > self.max_header_bytes:
                    self._fail(513, "header section too large", None)
                self._need = end + 4 + self._content_length(bytes(buffer[:end]))
            if len(buffer) < self._need:
                break
            out.append(bytes(buffer[: self._need]))
            del buffer[: self._need]
            self._need = None
            self._scanned = 0
        return out

    def _content_length(self, head: bytes) -> int:
        values = _CONTENT_LENGTH_RE.findall(head)
        if not values:
            self._fail(400, "missing Content-Length on a stream", head)
        if len(values) > 1:
            self._fail(400, "more than one Content-Length header field", head)
        value = re.sub(rb"\r\n[ \t]", b" ", values[0]).strip(b" \t")
        if not value.isdigit():
            self._fail(400, "malformed Content-Length", head)
        if len(value) > 12 or int(value) > self.max_body_bytes:
            self._fail(513, "body too large", head)
        return int(value)

    def _fail(self, status: int, detail: str, head: bytes | None) -> None:
        partial = None if head is None else salvage_request(head)
        self._error = SIPFramingError(status, detail=detail, partial=partial)
        self._buffer.clear()
        raise self._error
