# -*- test-case-name: tests.engine.test_registration -*-
"""
L{Registration}: one binding of our Contact at a registrar (RFC 3261 §10),
kept fresh for the engine's life, behind C{SIPEngine.register()}.

  - REGISTER (§10.2): Request-URI C{sip:<domain>} (no user part), To and
    From the address-of-record C{sip:<username>@<domain>}, our Contact with
    an C{expires} parameter (and the same C{Expires} header, §10.2.1.1, for
    registrars that read only that), one Call-ID for every REGISTER of the
    binding and a CSeq one higher each time (§10.2: the registrar orders
    them by it).  A new REGISTER waits for the previous one's final answer.
  - 401/407 (§22.2, §22.3; RFC 7616: MD5, SHA-256, SHA-512-256): answered
    with the credentials.  The digest state is kept, so refreshes reuse the
    nonce with a rising nonce count until the registrar challenges again.
    Credentials refused (a fresh challenge to them) fail the attempt.
  - 423 Interval Too Brief (§10.2.8): retried with the C{Min-Expires} it
    asks for, which later refreshes keep.
  - 2xx: the expiry granted is the C{expires} of our Contact in the answer,
    else its C{Expires} header, else what we asked (§10.2.4).  The refresh
    goes after C{max(granted / 2, granted - 30)} seconds (L{refresh_delay}):
    30 s of slack for retransmissions on usual bindings, half the interval
    on short ones.
  - The first outcome is what L{Registration.registered} reports: the
    binding, or L{RegistrationFailed} with the status (403, 404...) or
    L{RegistrationTimeout} when nothing answered (Timer F, 64*T1).  A
    registration that never succeeded is not retried: the application
    decides.  After a success, any failure (a refusal, no answer, a
    transport error) is retried every L{RETRY_INTERVAL} (30 s, as roomkit's
    backend does), for as long as the registration runs.
  - L{Registration.stop}: timers cancelled, then, when a binding may exist,
    an un-REGISTER (C{expires=0} on our Contact only, never C{Contact: *},
    which would remove the user's other devices too, §10.2.2).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip.engine.screening import ALLOW
from roomkit_sip.engine.uac_auth import MAX_CHALLENGES, ChallengeResponder, DigestError
from roomkit_sip.sip.dialog import MAX_FORWARDS
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.fields import Params
from roomkit_sip.sip.headers import Headers
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.transaction import new_tag
from roomkit_sip.sip.transactions import TransactionClosed, TransactionTimeout
from roomkit_sip.sip.uri import Address, SipURI, parse_uri

if TYPE_CHECKING:
    from roomkit_sip.engine.services import EngineServices

__all__ = [
    "REFRESH_MARGIN",
    "RETRY_INTERVAL",
    "Registration",
    "RegistrationFailed",
    "RegistrationTimeout",
    "refresh_delay",
]

_log = Logger()

Addr = tuple[str, int]

#: Seconds between attempts after a registration that had succeeded failed.
RETRY_INTERVAL = 30.0
#: Seconds before the binding runs out that a refresh is sent (long bindings).
REFRESH_MARGIN = 30.0


class RegistrationFailed(RuntimeError):
    """
    The registrar refused (C{status} 403, 404...), or the registration was
    stopped or could not be sent before its first answer.

    @ivar response: the refusal, when there was one.
    """

    def __init__(self, reason: str, status: int | None = None, response: Any = None) -> None:
        super().__init__(reason if status is None else f"{status} {reason}")
        self.reason = reason
        self.status = status
        self.response = response


class RegistrationTimeout(RegistrationFailed, TimeoutError):
    """No answer from the registrar (Timer F, §17.1.2.2): C{status} 408."""


def refresh_delay(granted: float) -> float:
    """When to refresh a binding granted for C{granted} seconds (module docstring)."""
    return max(granted / 2.0, granted - REFRESH_MARGIN)


def granted_expiry(response: Response, contact: SipURI, asked: int) -> int:
    """
    The seconds the registrar granted our Contact (§10.2.4, §10.3 step 8):
    its C{expires} in the answer (the only Contact, when the registrar
    rewrote ours), else the C{Expires} header, else C{asked}.
    """
    try:
        contacts = response.contacts
    except SIPParseError:
        contacts = []
    mine = [a for a in contacts if a.uri == contact] or (contacts if len(contacts) == 1 else [])
    for address in mine:
        value = (address.params.get("expires") or "").strip()
        if value.isdigit():
            return int(value)
    header = (response.headers.get("Expires") or "").strip()
    return int(header) if header.isdigit() else asked


class Registration:
    """
    One binding at one registrar; built and started by C{SIPEngine.register()}.

    @ivar state: C{"registering"} (first attempt), C{"registered"},
        C{"retrying"} (a refresh failed: next attempt in L{RETRY_INTERVAL}),
        C{"failed"} (the first attempt failed: nothing more is tried),
        C{"unregistering"}, C{"stopped"}.
    @ivar expires: the expiry we ask for (raised by a 423).
    @ivar granted: the expiry of the last 2xx, or C{None}.
    @ivar expires_at: reactor time the binding runs out, or C{None}.
    @ivar last_status: the status of the last final answer (408 for no
        answer, 503 for a transport error), or C{None}.
    @ivar failures: attempts that failed; C{refreshes}: 2xx after the first.
    """

    def __init__(
        self,
        services: EngineServices,
        registrar: Addr,
        *,
        username: str,
        digest: Callable[[], Any],
        domain: str | None = None,
        expires: int = 300,
        contact_user: str | None = None,
        transport: str = "udp",
        on_stopped: Callable[[Registration], object] | None = None,
    ) -> None:
        """@raise ValueError: an empty user name, a bad domain or expiry, a transport not run."""
        host, port = registrar
        kind = transport.lower()
        if kind not in services.transports.enabled:
            raise ValueError(f"transport {transport!r} is not enabled in this engine")
        if not username or type(expires) is not int or expires <= 0:
            raise ValueError("register: needs a user name and a positive integer expires")
        try:
            uri = parse_uri(f"sip:{domain or host}")
        except (SIPParseError, ValueError) as error:
            raise ValueError(f"register: bad domain {domain or host!r}: {error}") from None
        if not isinstance(uri, SipURI) or uri.user is not None:
            raise ValueError(f"register: bad domain {domain or host!r}")
        self._services = services
        self.registrar: Addr = (host, int(port))
        self.transport = kind.upper()
        self.request_uri = uri  # §10.2: the domain, no userinfo
        self.aor = replace(uri, user=username)
        peer = services.transports.contact(host, kind)  # our address toward the registrar
        self.contact = replace(peer.uri, user=contact_user or username)  # type: ignore[arg-type]
        self.call_id = f"{secrets.token_hex(12)}@roomkit-sip"
        self._from_tag = new_tag()
        self.cseq = 0
        self.expires = expires
        self.granted: int | None = None
        self.expires_at: float | None = None
        self.last_status: int | None = None
        self.failures = 0
        self.refreshes = 0
        self.state = "registering"
        self._auth = ChallengeResponder(digest)
        self._outcome: Registration | Failure | None = None
        self._waiters: list[Deferred[Registration]] = []
        self._in_flight = False
        self._bound = False  # a binding of ours may exist at the registrar
        self._timer: IDelayedCall | None = None
        self._stop: Deferred[None] | None = None
        self._on_stopped = on_stopped

    # -- what the application reads -------------------------------------------------

    @property
    def registered(self) -> Deferred[Registration]:
        """
        A new Deferred for the first outcome: this registration once the
        registrar accepted it, or L{RegistrationFailed} /
        L{RegistrationTimeout}.
        """
        d: Deferred[Registration] = Deferred()
        if self._outcome is None:
            self._waiters.append(d)
        elif isinstance(self._outcome, Failure):
            d.errback(self._outcome)
        else:
            d.callback(self)
        return d

    @property
    def is_registered(self) -> bool:
        """A 2xx granted a binding that has not run out (nor been removed)."""
        return (
            self._bound
            and self.expires_at is not None
            and self._services.reactor.seconds() < self.expires_at
        )

    # -- the exchanges ----------------------------------------------------------------

    def start(self) -> None:
        """Send the first REGISTER."""
        _log.info("registering {aor} at {registrar}", aor=str(self.aor), registrar=self.registrar)
        self._send(self.expires)

    def _request(self, expires: int) -> Request:
        self.cseq += 1
        headers = Headers()
        headers.add("Max-Forwards", MAX_FORWARDS)
        headers.add("From", Address(None, self.aor).with_tag(self._from_tag))
        headers.add("To", Address(None, self.aor))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.cseq} REGISTER")
        headers.add("Contact", Address(None, self.contact, Params([("expires", str(expires))])))
        headers.add("Expires", expires)
        headers.add("Allow", ", ".join(ALLOW))
        headers.add("User-Agent", self._services.config.user_agent)
        request = Request("REGISTER", str(self.request_uri), headers)
        self._auth.authorize(request)
        return request

    def _send(self, expires: int, challenges: int = 0) -> None:
        self._timer = None
        request = self._request(expires)
        transactions = self._services.sender.transactions
        assert transactions is not None
        try:
            txn = transactions.request(request, self.registrar, self.transport)
        except Exception as error:
            self._in_flight = False
            self._failed(RegistrationFailed(f"REGISTER not sent: {error}", 503), expires)
            return
        self._in_flight = True
        txn.final.addCallbacks(
            self._answered, self._no_answer, (request, expires, challenges), None, (expires,)
        )

    def _answered(self, response: Response, request: Request, expires: int, tries: int) -> None:
        self._in_flight = False
        status = self.last_status = response.status
        if 200 <= status < 300:
            if expires == 0:
                self._finish_stop()
            else:
                self._succeeded(granted_expiry(response, self.contact, expires), expires)
            return
        if ChallengeResponder.is_challenge(response) and tries < MAX_CHALLENGES:
            try:
                self._auth.challenged(response, request)
            except (DigestError, SIPParseError) as error:
                _log.info("REGISTER {aor}: {error}", aor=str(self.aor), error=error)
            else:
                self._send(expires, tries + 1)
                return
        elif status == 423 and expires > 0:
            wanted = (response.headers.get("Min-Expires") or "").strip()
            if wanted.isdigit() and int(wanted) > expires:
                self.expires = int(wanted)
                self._send(self.expires, tries)
                return
        self._failed(RegistrationFailed(response.reason or "", status, response), expires)

    def _no_answer(self, failure: Failure, expires: int) -> None:
        self._in_flight = False
        if failure.check(TransactionTimeout):
            self.last_status = 408
            error: RegistrationFailed = RegistrationTimeout("no answer from the registrar", 408)
        elif failure.check(TransactionClosed):
            error = RegistrationFailed("the engine stopped")
        else:  # TransportFailure: §8.1.3.1 treats it as a 503
            self.last_status = 503
            error = RegistrationFailed(f"transport error: {failure.getErrorMessage()}", 503)
        self._failed(error, expires)

    def _succeeded(self, granted: int, expires: int) -> None:
        if granted <= 0:  # the registrar kept no binding of ours
            error = RegistrationFailed("the registrar granted no time", self.last_status)
            self._failed(error, expires)
            return
        self._bound = True
        if self._stop is not None:  # stopped while this REGISTER was out
            self._unregister()
            return
        if self._outcome is not None:
            self.refreshes += 1
        self.granted = granted
        self.expires_at = self._services.reactor.seconds() + granted
        self.state = "registered"
        delay = refresh_delay(granted)
        self._timer = self._services.reactor.callLater(delay, self._send, self.expires)
        _log.info(
            "{aor} registered at {registrar} for {granted} s; refresh in {delay:.0f} s",
            aor=str(self.aor),
            registrar=self.registrar,
            granted=granted,
            delay=delay,
        )
        self._settle(self)

    def _failed(self, error: RegistrationFailed, expires: int) -> None:
        if expires == 0:  # the un-REGISTER: nothing more to do about it
            _log.info("un-REGISTER of {aor} failed: {error}", aor=str(self.aor), error=error)
            self._finish_stop()
            return
        self.failures += 1
        if self._stop is not None:
            if self._bound:
                self._unregister()
            else:
                self._finish_stop()
            return
        if self._outcome is None:
            self.state = "failed"
            _log.warn("registration of {aor} failed: {error}", aor=str(self.aor), error=error)
            self._settle(Failure(error))
            return
        self.state = "retrying"
        _log.warn(
            "refresh of {aor} failed: {error}; retrying in {delay:.0f} s",
            aor=str(self.aor),
            error=error,
            delay=RETRY_INTERVAL,
        )
        self._timer = self._services.reactor.callLater(RETRY_INTERVAL, self._send, self.expires)

    def _settle(self, outcome: Registration | Failure) -> None:
        if self._outcome is not None:
            return
        self._outcome = outcome
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if isinstance(outcome, Failure):
                d.errback(outcome)
            else:
                d.callback(outcome)

    # -- the end ------------------------------------------------------------------------

    def stop(self) -> Deferred[None]:
        """
        Cancel the timers and remove our binding (un-REGISTER, module
        docstring); fires once that is answered, failed or not needed.
        Idempotent.  A first outcome still pending fails.
        """
        if self._stop is None:
            self._stop = Deferred()
            self._cancel_timer()
            self._settle(Failure(RegistrationFailed("the registration was stopped")))
            if self._in_flight:
                pass  # its answer decides (§10.2: one REGISTER at a time)
            elif self._bound:
                self._unregister()
            else:
                self._finish_stop()
        done: Deferred[None] = Deferred()
        self._stop.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    def _unregister(self) -> None:
        self.state = "unregistering"
        _log.info("unregistering {aor}", aor=str(self.aor))
        self._send(0)

    def _finish_stop(self) -> None:
        self._cancel_timer()
        self._bound = False
        self.expires_at = None
        self.state = "stopped"
        if self._on_stopped is not None:
            self._on_stopped(self)
        if self._stop is not None and not self._stop.called:
            self._stop.callback(None)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
