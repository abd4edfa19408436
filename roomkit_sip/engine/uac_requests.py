# -*- test-case-name: tests.engine.test_outgoing -*-
"""
L{DialRequest}: the arguments of C{SIPEngine.dial()}, checked once, and the
INVITEs built from them (RFC 3261 §8.1.1).

Every INVITE of one call attempt (the first and its retries after a
challenge or a 422) has the same Request-URI (the To URI, §8.1.1.1), To,
From with its tag, Call-ID and SDP offer, and a CSeq one higher than the
last (§8.1.3.5).  Around them: Max-Forwards 70, our Contact, Allow,
Supported, User-Agent, and a Session-Expires (RFC 4028 §7.1) so a long call
is refreshed as an inbound one is.  The Via is the transaction layer's.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from roomkit_sip.codecs.registry import resolve_codecs
from roomkit_sip.engine.identity import Identity, uri_user
from roomkit_sip.engine.screening import ALLOW, SUPPORTED
from roomkit_sip.engine.uac_auth import DigestFactory, digest_factory
from roomkit_sip.sip.dialog import MAX_FORWARDS
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.headers import Headers
from roomkit_sip.sip.message import Request
from roomkit_sip.sip.offer_answer import LocalMedia
from roomkit_sip.sip.sdp_session import OfferAnswerSession
from roomkit_sip.sip.session_timer import uac_request_headers
from roomkit_sip.sip.transaction import new_tag
from roomkit_sip.sip.uri import Address, SipURI, TelURI, parse_address

if TYPE_CHECKING:
    from roomkit_sip.engine.services import EngineServices

__all__ = ["DialRequest"]

Addr = tuple[str, int]

#: Header fields the engine writes itself: C{extra_headers} may not set them.
_RESERVED = frozenset(
    Headers._key(name)
    for name in (
        "Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Contact", "Content-Type",
        "Content-Length", "Authorization", "Proxy-Authorization", "Session-Expires", "Min-SE",
    )
)  # fmt: skip


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(what: str, text: str) -> Address:
    try:
        address = parse_address(text.strip())
    except (SIPParseError, ValueError) as error:
        raise ValueError(f"{what}: not a SIP address: {text!r} ({error})") from None
    if not isinstance(address.uri, (SipURI, TelURI)):
        raise ValueError(f"{what}: expected a sip:, sips: or tel: URI, got {text!r}")
    return address


def _extra(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[Any, ...]:
    items = list(headers.items() if isinstance(headers, Mapping) else headers or ())
    checked = Headers()
    for name, value in items:
        if Headers._key(name) in _RESERVED:
            raise ValueError(f"extra_headers: {name} is written by the engine")
        checked.add(name, value)  # ValueError for a bad name or a CR/LF in a value
    return tuple(checked.items())


@dataclass(eq=False)
class DialRequest:
    """
    One call attempt's fixed parts.

    @ivar proxy: where every INVITE (and the CANCEL) goes.
    @ivar transport: C{"UDP"} or C{"TCP"}.
    @ivar digest: makes L{roomkit_sip.auth.digest_client.DigestClient}s, or C{None}.
    @ivar timeout: seconds to wait for a final answer, C{None} for no limit.
    """

    to: Address
    from_: Address
    proxy: Addr
    transport: str
    identity: Identity
    codecs: tuple[Any, ...]
    digest: DigestFactory | None
    extra_headers: tuple[tuple[str, str], ...]
    timeout: float | None
    contact: Address
    user_agent: str
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 0
    body: bytes = b""

    @classmethod
    def build(
        cls,
        services: EngineServices,
        to_uri: str,
        from_uri: str,
        proxy_addr: tuple[str, int],
        *,
        room_id: str | None = None,
        session_id: str | None = None,
        codecs: Any = None,
        credentials: Any = None,
        extra_headers: Any = None,
        timeout: float | None = 30.0,
        transport: str = "udp",
    ) -> DialRequest:
        """
        Check C{dial()}'s arguments (C{docs/engine.md}).

        @raise ValueError: a malformed URI, address, header or timeout, an
            unknown codec, a transport the engine does not run.
        @raise TypeError: credentials of an unknown kind.
        """
        to = _address("to_uri", to_uri)
        from_ = _address("from_uri", from_uri)
        host, port = proxy_addr
        if not isinstance(host, str) or not host or not 0 < int(port) <= 65535:
            raise ValueError(f"proxy_addr: expected (host, port), got {proxy_addr!r}")
        kind = transport.lower()
        if kind not in services.transports.enabled:
            raise ValueError(f"transport {transport!r} is not enabled in this engine")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive or None, got {timeout!r}")
        chosen = tuple(resolve_codecs(codecs)) if codecs is not None else services.config.codecs
        extra = _extra(extra_headers)
        call_id = f"{secrets.token_hex(12)}@roomkit-sip"
        identity = Identity(
            call_id=call_id,
            session_id=session_id or room_id or call_id,
            room_id=room_id or call_id,
            participant_id=to_uri.strip(),
            caller=str(from_.uri),
            callee=str(to.uri),
            caller_display_name=from_.display_name or "",
            caller_user=uri_user(from_.uri),
            x_headers={name: value for name, value in extra if name.lower().startswith("x-")},
        )
        peer = host if _is_ip(host) else None
        return cls(
            to=replace(to, params=to.params.without("tag")),
            from_=from_,
            proxy=(host, int(port)),
            transport=kind.upper(),
            identity=identity,
            codecs=chosen,
            digest=digest_factory(credentials),
            extra_headers=extra,
            timeout=None if timeout is None else float(timeout),
            contact=services.transports.contact(peer, kind),
            user_agent=services.config.user_agent,
        )

    def offer_answer(self, services: EngineServices, rtp_port: int) -> OfferAnswerSession:
        """This call's side of offer/answer on C{rtp_port}; makes the offer once."""
        config = services.config
        host = self.proxy[0]
        peer = host if _is_ip(host) else None
        local = LocalMedia(
            address=services.rtp_addresses.for_peer(peer),
            rtp_port=rtp_port,
            session_name=config.server_name,
            dtmf_payload_type=config.dtmf_payload_type,
            warn_agent=services.transports.local_host(peer),
        )
        session = OfferAnswerSession(self.codecs, local, sess_id=secrets.randbits(31) + 1)
        self.body = bytes(session.offer())
        return session

    def invite(self, session_expires: int, min_se: int | None) -> Request:
        """The next INVITE of the attempt (a new CSeq), without Via or credentials."""
        self.cseq += 1
        headers = Headers()
        headers.add("Max-Forwards", MAX_FORWARDS)
        headers.add("From", self.from_.with_tag(self.from_tag))
        headers.add("To", self.to)
        headers.add("Call-ID", self.identity.call_id)
        headers.add("CSeq", f"{self.cseq} INVITE")
        headers.add("Contact", self.contact)
        headers.add("Allow", ", ".join(ALLOW))
        headers.add("Supported", ", ".join(SUPPORTED))
        for name, value in uac_request_headers(session_expires, min_se=min_se):
            if name != "Supported":  # already said, with the rest
                headers.add(name, value)
        headers.add("User-Agent", self.user_agent)
        for name, value in self.extra_headers:
            headers.add(name, value)
        headers.add("Content-Type", "application/sdp")
        return Request("INVITE", str(self.to.uri), headers, self.body)
