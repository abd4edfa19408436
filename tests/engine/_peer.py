"""
A SIP engine in memory and a caller that talks to it.

L{Harness} builds a L{SIPEngine} on a L{MemoryUDPReactor} (its clock is the
reactor's), started and bound to C{HOST:5060}.  L{Caller} is one UAC call
built with the message layer: it sends INVITE, ACK, CANCEL, BYE, re-INVITE,
UPDATE, INFO as datagrams to the engine's port and reads back the responses
and requests the engine wrote to it.  L{Recorder} is a call handler that
records every event and answers as the test tells it.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet.defer import Deferred

from roomkit_sip.codecs.registry import resolve_codecs
from roomkit_sip.engine import CallHandler, EngineConfig, SIPEngine
from roomkit_sip.sip import Headers, Request, Response, make_response, parse_message
from roomkit_sip.testing import MemoryUDPReactor

HOST = "198.51.100.1"
PEER_IP = "192.0.2.10"
PEER = (PEER_IP, 5062)
PEER_RTP = 40000
RTP_START = 20000

_counter = itertools.count(1)


def offer_sdp(
    port: int = PEER_RTP,
    formats: str = "0 101",
    direction: str = "sendrecv",
    ip: str = PEER_IP,
    version: int = 1,
    extra: str = "",
) -> bytes:
    lines = [
        "v=0",
        f"o=peer 1 {version} IN IP4 {ip}",
        "s=-",
        f"c=IN IP4 {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
    ]
    names = {"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000", "3": "GSM/8000",
             "18": "G729/8000", "101": "telephone-event/8000"}  # fmt: skip
    for pt in formats.split():
        lines.append(f"a=rtpmap:{pt} {names[pt]}")
        if pt == "101":
            lines.append("a=fmtp:101 0-16")
    lines.append(f"a={direction}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n").encode()


def slow(log: list[Any]) -> Any:
    """
    A verdict function: each call returns a new pending Deferred, appended
    to C{log}, which records its own cancellation in C{log} too.
    """

    def verdict(incoming: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        log.append(d)
        d.addErrback(lambda failure: log.append(failure.type) and None)
        return d

    return verdict


class Recorder(CallHandler):
    """
    Records every event; C{verdict} is what C{incoming_call} returns (a
    value, or a callable taking the incoming call).
    """

    def __init__(self, verdict: Any = None) -> None:
        self.verdict = verdict
        self.incoming: list[Any] = []
        self.events: list[tuple[str, Any]] = []
        self.audio: list[bytes] = []
        self.dtmf: list[Any] = []
        self.ended: list[Any] = []

    def incoming_call(self, incoming: Any) -> Any:
        self.incoming.append(incoming)
        self.events.append(("incoming", incoming))
        verdict = self.verdict
        return verdict(incoming) if callable(verdict) else verdict

    def call_answered(self, call: Any) -> None:
        self.events.append(("answered", call))

    def audio_received(self, call: Any, pcm: bytes) -> None:
        self.audio.append(pcm)

    def dtmf_received(self, call: Any, event: Any) -> None:
        self.dtmf.append(event)
        self.events.append(("dtmf", event))

    def call_ended(self, call: Any) -> None:
        self.ended.append(call)
        self.events.append(("ended", call))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


class Harness:
    """A started engine in memory, with its reactor and SIP port."""

    def __init__(self, handler: Any = None, *, auth_with: Any = None, **changes: Any) -> None:
        """
        @param auth_with: C{auth_with(reactor)} builds the C{auth} setting
            (an authenticator needs the engine's clock).
        """
        self.reactor = MemoryUDPReactor()
        if auth_with is not None:
            changes["auth"] = auth_with(self.reactor)
        settings: dict[str, Any] = {
            "sip_host": HOST,
            "sip_port": 5060,
            "rtp_ip": HOST,
            "rtp_port_start": RTP_START,
            "rtp_port_end": RTP_START + 20,
            "codecs": tuple(resolve_codecs("pcmu,pcma,g722")),
            "port_quarantine": 1.0,
        }
        settings.update(changes)
        self.config = EngineConfig(**settings)
        self.handler = handler if handler is not None else Recorder()
        self.engine = SIPEngine(self.reactor, self.config, self.handler, random=lambda: 0.5)
        started = self.engine.start()
        assert started.called
        self.sip = self.reactor.udp_port(self.engine.local_sip_addr[1])
        self._inbox: dict[tuple[str, int], list[Request | Response]] = {}
        self._calls: dict[tuple[tuple[str, int], str], list[Request | Response]] = {}

    @property
    def services(self) -> Any:
        return self.engine._services

    def caller(self, **kw: Any) -> Caller:
        return Caller(self, **kw)

    def advance(self, seconds: float, step: float = 0.02) -> None:
        """Move the clock forward in small steps (timers fire in order)."""
        end = self.reactor.seconds() + seconds
        while self.reactor.seconds() + step < end:
            self.reactor.advance(step)
        self.reactor.advance(max(0.0, end - self.reactor.seconds()))

    def collect(self) -> None:
        for data, addr in self.sip.take_written():
            message = parse_message(data)
            self._inbox.setdefault(addr, []).append(message)
            self._calls.setdefault((addr, message.call_id), []).append(message)

    def inbox(self, addr: tuple[str, int]) -> list[Request | Response]:
        """Every message the engine sent to C{addr}."""
        self.collect()
        return self._inbox.setdefault(addr, [])

    def call_inbox(self, addr: tuple[str, int], call_id: str) -> list[Request | Response]:
        """The messages of one Call-ID the engine sent to C{addr}."""
        self.collect()
        return self._calls.setdefault((addr, call_id), [])

    def settle(self) -> None:
        """Run every timer to its end: transactions, quarantine, RTCP..."""
        for _ in range(400):
            if not self.reactor.getDelayedCalls():
                return
            self.reactor.advance(1.0)

    def rtp_port(self, port: int) -> Any:
        return self.reactor.udp_port(port)


class Caller:
    """One UAC call (or request) from C{addr} to the engine."""

    def __init__(
        self, harness: Harness, addr: tuple[str, int] = PEER, call_id: str | None = None
    ) -> None:
        self.h = harness
        self.addr = addr
        n = next(_counter)
        self.call_id = call_id or f"call-{n}@{addr[0]}"
        self.from_tag = f"from{n}"
        self._n = n
        self.to_tag: str | None = None
        self.cseq = 0
        self.invite: Request | None = None
        self._branch = itertools.count(1)

    # -- building ------------------------------------------------------------------

    def request(
        self,
        method: str,
        *,
        body: bytes = b"",
        headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        content_type: str | None = "application/sdp",
        cseq: int | None = None,
        branch: str | None = None,
        in_dialog: bool | None = None,
        uri: str | None = None,
    ) -> Request:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        tagged = self.to_tag is not None if in_dialog is None else in_dialog
        to = f"<sip:bot@{HOST}>" + (f";tag={self.to_tag}" if tagged else "")
        branch = branch or f"z9hG4bK-{self._n}-{next(self._branch)}"
        fields = Headers()
        fields.add("Via", f"SIP/2.0/UDP {self.addr[0]}:{self.addr[1]};branch={branch};rport")
        fields.add("Max-Forwards", "70")
        host, port = self.addr
        fields.add("From", f'"Alice" <sip:alice@{host}:{port}>;tag={self.from_tag}')
        fields.add("To", to)
        fields.add("Call-ID", self.call_id)
        fields.add("CSeq", f"{cseq} {method}")
        fields.add("Contact", f"<sip:alice@{self.addr[0]}:{self.addr[1]}>")
        for name, value in headers:
            fields.add(name, value)
        if body and content_type:
            fields.add("Content-Type", content_type)
        return Request(method, uri or f"sip:bot@{HOST}:5060", fields, body)

    def send(self, message: Request | Response) -> None:
        self.h.sip.deliver(bytes(message), self.addr)

    def send_invite(self, body: bytes | None = None, **kw: Any) -> Request:
        invite = self.request("INVITE", body=offer_sdp() if body is None else body, **kw)
        self.invite = invite
        self.send(invite)
        return invite

    def ack(self, response: Response | None = None, body: bytes = b"") -> Request:
        """ACK the 2xx (a new transaction, §13.2.2.4) or a non-2xx (same branch)."""
        response = response or self.final()
        assert self.invite is not None
        if response.status >= 300:
            ack = self.request(
                "ACK", cseq=self.invite.cseq.seq, branch=self.invite.top_via.branch,
                in_dialog=False,
            )  # fmt: skip
            ack.headers.set("To", response.headers.get("To"))
        else:
            self.to_tag = response.to.tag
            ack = self.request("ACK", cseq=response.cseq.seq, body=body)
        self.send(ack)
        return ack

    def cancel(self) -> Request:
        assert self.invite is not None
        cancel = self.request(
            "CANCEL", cseq=self.invite.cseq.seq, branch=self.invite.top_via.branch,
            in_dialog=False, content_type=None,
        )  # fmt: skip
        self.send(cancel)
        return cancel

    def answer(self, request: Request, status: int = 200, **kw: Any) -> Response:
        """Answer a request the engine sent us."""
        response = make_response(request, status, **kw)
        self.send(response)
        return response

    # -- reading -------------------------------------------------------------------

    def received(self) -> list[Request | Response]:
        """What the engine sent to this caller's address for this Call-ID."""
        return self.h.call_inbox(self.addr, self.call_id)

    def responses(self, method: str = "INVITE") -> list[Response]:
        return [
            m for m in self.received()
            if isinstance(m, Response) and m.cseq.method == method and m.call_id == self.call_id
        ]  # fmt: skip

    def statuses(self, method: str = "INVITE") -> list[int]:
        return [r.status for r in self.responses(method)]

    def final(self, method: str = "INVITE") -> Response:
        finals = [r for r in self.responses(method) if r.status >= 200]
        assert finals, f"no final response to {method}: {self.statuses(method)}"
        return finals[-1]

    def requests(self, method: str, copies: bool = False) -> list[Request]:
        """
        The requests of C{method} the engine sent us, retransmissions (same
        branch and CSeq) left out unless C{copies}.
        """
        found: list[Request] = []
        seen = set()
        for m in self.received():
            if isinstance(m, Request) and m.method == method and m.call_id == self.call_id:
                key = (m.top_via.branch, m.cseq.seq)
                if copies or key not in seen:
                    seen.add(key)
                    found.append(m)
        return found

    def connect(self) -> Response:
        """INVITE, get 200, ACK it: an answered call."""
        self.send_invite()
        ok = self.final()
        assert ok.status == 200, ok.status
        self.ack(ok)
        return ok


def fired(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def sdp_port(message: Request | Response) -> int:
    """The audio port of a message's SDP body."""
    for line in message.body.decode().splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise AssertionError("no m=audio line")


def sdp_lines(message: Request | Response) -> list[str]:
    return message.body.decode().splitlines()


def assert_released(test: Any, h: Harness) -> None:
    """
    Once every timer has run out: nothing scheduled, no port allocated or
    resting, no call, claim, dialog or transaction left.
    """
    h.settle()
    services = h.services
    test.assertEqual(h.reactor.getDelayedCalls(), [])
    test.assertEqual(services.allocator.allocated, 0)
    test.assertEqual(services.allocator.in_quarantine, 0)
    test.assertTrue(services.registry.empty, services.registry.counts())
    test.assertEqual(len(services.dialogs), 0)
    test.assertEqual(len(h.engine._transactions), 0)
    test.assertEqual([p for p in h.reactor.udp_ports if p[1] != h.sip.port], [])
