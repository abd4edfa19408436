# -*- test-case-name: tests.sip.test_dialog -*-
"""
Dialogs (RFC 3261 §12): the state two user agents share for the life of a
call, and everything derived from it.

A L{Dialog} is created by the UAS from an INVITE and its own To tag
(§12.1.1), or by the UAC from a 1xx with a To tag or a 2xx (§12.1.2).  It
checks the order of the peer's requests (§12.2.2), follows target refreshes
(re-INVITE, UPDATE), and builds in-dialog requests with the right
Request-URI and Route set for loose and strict routers (§12.2.1.1) and the
ACK for a 2xx (§13.2.2.4).  L{DialogTable} finds the dialog of a message, or
tells the engine that a request claims a dialog it does not have (481).

Requests are built without a Via: the transaction layer adds it with a new
branch when it sends them (§8.1.1.7, §18.1.1).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from roomkit_sip.sip.headers import Headers
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.routing import Hop, uri_hop
from roomkit_sip.sip.transaction import new_tag
from roomkit_sip.sip.uri import URI, Address, SipURI, parse_address

#: Requests that carry a new remote target in their Contact (§12.2; RFC 3311
#: UPDATE, RFC 6665 SUBSCRIBE/NOTIFY, RFC 3515 REFER).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
#: Max-Forwards of every request we originate (§8.1.1.6).
MAX_FORWARDS = 70


class DialogState(enum.Enum):
    """§12: a dialog is early until a 2xx confirms it."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogId(NamedTuple):
    """
    The dialog identifier (§12): Call-ID and the two tags from our side.
    The remote tag is C{None} for an RFC 2543 peer that sent no From tag.
    """

    call_id: str
    local_tag: str
    remote_tag: str | None


def _record_route(message: Request | Response) -> tuple[Address, ...]:
    return tuple(parse_address(value) for value in message.headers.get_all("Record-Route"))


def _contact_uri(message: Request | Response) -> URI | None:
    contacts = message.contacts
    return contacts[0].uri if contacts else None


def _untagged(address: Address) -> Address:
    return replace(address, params=address.params.without("tag"))


@dataclass(eq=False)
class Dialog:
    """
    One dialog's state (§12).

    @ivar local_uri: our address (From for the UAC, To for the UAS), no tag.
    @ivar remote_uri: the peer's address, no tag.
    @ivar remote_target: where in-dialog requests go (the peer's Contact).
    @ivar route_set: the proxies in-dialog requests traverse, in order.
    @ivar local_contact: the Contact of our target refresh requests.
    @ivar local_seq: the CSeq number of our last request, C{None} if none yet.
    @ivar remote_seq: the CSeq number of the peer's last request, or C{None}.
    @ivar secure: the dialog was set up over TLS with a SIPS URI (§12.1).
    """

    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: Address
    remote_uri: Address
    remote_target: URI
    route_set: tuple[Address, ...] = ()
    local_contact: Address | None = None
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    is_uac: bool = False
    state: DialogState = DialogState.EARLY
    _ack: Request | None = field(default=None, repr=False)

    @classmethod
    def for_uas(
        cls,
        invite: Request,
        local_tag: str | None = None,
        *,
        contact: Address | None = None,
        transport: str = "UDP",
    ) -> Dialog:
        """
        The UAS side of a dialog created by C{invite}, answered with
        C{local_tag} in To (§12.1.1).  It stays early until L{confirm}.

        @param local_tag: our To tag; a fresh random one (64 bits) if C{None}.

        @param contact: the Contact we send in our responses.
        @param transport: the transport the INVITE arrived on.
        """
        uri = invite.request_uri
        return cls(
            call_id=invite.call_id,
            local_tag=new_tag() if local_tag is None else local_tag,
            remote_tag=invite.from_.tag,
            local_uri=_untagged(invite.to),
            remote_uri=_untagged(invite.from_),
            remote_target=_contact_uri(invite) or invite.from_.uri,
            route_set=_record_route(invite),
            local_contact=contact,
            remote_seq=invite.cseq.seq,
            secure=transport.upper() == "TLS" and uri.scheme == "sips",
        )

    @classmethod
    def for_uac(cls, request: Request, response: Response, *, transport: str = "UDP") -> Dialog:
        """
        The UAC side of a dialog created by C{response} (a 1xx with a To
        tag, or a 2xx) to C{request} (§12.1.2): early for a 1xx, confirmed
        for a 2xx.

        @param transport: the transport C{request} was sent on.
        @raise ValueError: the response has no To tag (it creates no dialog).
        """
        remote_tag = response.to.tag
        local_tag = request.from_.tag
        if remote_tag is None or local_tag is None:
            raise ValueError("a dialog needs a From tag and a To tag")
        contacts = request.contacts
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=_untagged(request.from_),
            remote_uri=_untagged(response.to),
            remote_target=_contact_uri(response) or request.request_uri,
            route_set=tuple(reversed(_record_route(response))),
            local_contact=contacts[0] if contacts else None,
            local_seq=request.cseq.seq,
            secure=transport.upper() == "TLS" and request.request_uri.scheme == "sips",
            is_uac=True,
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
        )

    @property
    def id(self) -> DialogId:
        """The dialog identifier from our side."""
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    def next_hop(self) -> Hop:
        """
        Where this dialog's requests go (§8.1.2): the first route, loose or
        strict (a strict one is also the Request-URI), else the remote target.
        """
        return uri_hop(self.route_set[0].uri if self.route_set else self.remote_target)

    def confirm(self) -> None:
        """The UAS sent its 2xx: the dialog is confirmed."""
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        """BYE sent or received, or the INVITE failed: the dialog is over."""
        self.state = DialogState.TERMINATED

    # -- the peer's messages ---------------------------------------------------

    def receive_request(self, request: Request) -> int | None:
        """
        Check an in-dialog request from the peer and update the dialog.

        The remote CSeq must increase (§12.2.2); ACK and CANCEL carry the
        CSeq of the request they belong to and are exempt.  Retransmissions
        never get here (the transaction layer absorbs them), so an equal
        number is a new request out of order.  A target refresh request
        replaces the remote target with its Contact on receipt, as §12.2.2
        says (RFC 6141 later moved this to the 2xx; a rejected re-INVITE
        from a peer that moved is rare enough not to track).

        @return: C{500} when the request is out of order (answer it so,
            §12.2.2), else C{None}.
        """
        if request.method not in ("ACK", "CANCEL"):
            seq = request.cseq.seq
            if self.remote_seq is not None and seq <= self.remote_seq:
                return 500
            self.remote_seq = seq
        if request.method in TARGET_REFRESH_METHODS:
            self._refresh_target(request)
        return None

    def receive_response(self, response: Response) -> None:
        """
        A response to a request we sent in this dialog (or to the INVITE
        that created it).  A 2xx to the INVITE confirms an early UAC dialog
        and recomputes its route set (§13.2.2.4); a 2xx to a target refresh
        request replaces the remote target (§12.2.1.2).
        """
        if not 200 <= response.status < 300:
            return
        method = response.cseq.method
        if self.is_uac and method == "INVITE" and self.state is DialogState.EARLY:
            self.route_set = tuple(reversed(_record_route(response)))
            self.state = DialogState.CONFIRMED
        if method in TARGET_REFRESH_METHODS:
            self._refresh_target(response)

    def _refresh_target(self, message: Request | Response) -> None:
        target = _contact_uri(message)
        if target is not None:
            self.remote_target = target

    # -- our requests ----------------------------------------------------------

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        """§12.2.1.1: loose routing keeps the target, strict routing swaps."""
        target = self.remote_target
        if not self.route_set:
            return str(target), []
        first = self.route_set[0].uri
        if isinstance(first, SipURI) and first.lr:
            return str(target), [str(route) for route in self.route_set]
        # A strict router expects its own URI as the Request-URI, without
        # what a Request-URI cannot hold (§19.1.1 Table 1: method, headers);
        # the remote target becomes the last Route.
        if isinstance(first, SipURI):
            first = replace(first, params=first.params.without("method"), headers=())
        routes = [str(route) for route in self.route_set[1:]]
        routes.append(f"<{target}>")
        return str(first), routes

    def _build(
        self,
        method: str,
        seq: int,
        headers: Iterable[tuple[str, object]],
        body: bytes,
        content_type: str | None,
    ) -> Request:
        uri, routes = self._request_uri_and_routes()
        fields = Headers()
        for route in routes:
            fields.add("Route", route)
        fields.add("Max-Forwards", MAX_FORWARDS)
        fields.add("From", self.local_uri.with_tag(self.local_tag))
        remote = self.remote_uri
        fields.add("To", remote if self.remote_tag is None else remote.with_tag(self.remote_tag))
        fields.add("Call-ID", self.call_id)
        fields.add("CSeq", f"{seq} {method}")
        if method in TARGET_REFRESH_METHODS and self.local_contact is not None:
            fields.add("Contact", self.local_contact)
        for name, value in headers:
            fields.add(name, value)
        if body and content_type is not None:
            fields.set("Content-Type", content_type)
        return Request(method, uri, fields, body)

    def create_request(
        self,
        method: str,
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """
        A new in-dialog request (§12.2.1.1): BYE, re-INVITE, UPDATE, INFO,
        OPTIONS...  The local CSeq advances by one (from 1 when the dialog
        has none yet, an arbitrary start §8.1.1.5 allows).

        @raise ValueError: for ACK and CANCEL, which reuse the CSeq of the
            request they belong to (use L{create_ack}, or the transaction
            layer's CANCEL).
        """
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"{method} is not built with create_request")
        self.local_seq = (self.local_seq or 0) + 1
        return self._build(method, self.local_seq, headers, body, content_type)

    def create_ack(
        self,
        invite: Request,
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """
        The ACK for a 2xx to C{invite} (§13.2.2.4): an in-dialog request
        with the INVITE's CSeq number and its credentials.  It is remembered
        so that L{ack_for} can resend it for a retransmitted 2xx.
        """
        credentials = [
            (name, value)
            for name, value in invite.headers.items()
            if name in ("Authorization", "Proxy-Authorization")
        ]
        ack = self._build("ACK", invite.cseq.seq, [*credentials, *headers], body, content_type)
        self._ack = ack
        return ack

    def ack_for(self, response: Response) -> Request | None:
        """
        The ACK already sent for the INVITE C{response} answers, to resend
        on a 2xx retransmission (§13.2.2.4), or C{None}.
        """
        ack = self._ack
        if ack is None or response.cseq.method != "INVITE":
            return None
        return ack if ack.cseq.seq == response.cseq.seq else None


class DialogTable:
    """
    The live dialogs of a user agent, by L{DialogId}.
    """

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def add(self, dialog: Dialog) -> None:
        """Register C{dialog}; one with the same identifier is replaced."""
        self._dialogs[dialog.id] = dialog

    def remove(self, dialog: Dialog) -> None:
        """Forget C{dialog} (no error if it is not there)."""
        if self._dialogs.get(dialog.id) is dialog:
            del self._dialogs[dialog.id]

    def get(self, dialog_id: DialogId) -> Dialog | None:
        """The dialog with this identifier, or C{None}."""
        return self._dialogs.get(dialog_id)

    def for_request(self, request: Request) -> Dialog | None:
        """The dialog a received request belongs to: our tag is in its To."""
        tag = request.to.tag
        if tag is None:
            return None
        return self._dialogs.get(DialogId(request.call_id, tag, request.from_.tag))

    def for_response(self, response: Response) -> Dialog | None:
        """The dialog a received response belongs to: our tag is in its From."""
        tag = response.from_.tag
        if tag is None:
            return None
        return self._dialogs.get(DialogId(response.call_id, tag, response.to.tag))

    def unknown_dialog(self, request: Request) -> bool:
        """
        Whether C{request} claims a dialog (a To tag) that does not exist:
        answer it 481 (§12.2.2).  An ACK is never answered, so it is False
        for ACK: drop an unmatched ACK silently.
        """
        return (
            request.method != "ACK"
            and request.to.tag is not None
            and self.for_request(request) is None
        )

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def __contains__(self, dialog: object) -> bool:
        return isinstance(dialog, Dialog) and self._dialogs.get(dialog.id) is dialog
