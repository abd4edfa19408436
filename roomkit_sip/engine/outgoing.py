# -*- test-case-name: tests.engine.test_outgoing -*-
"""
L{OutgoingCall}: a call we place, from its INVITE to the answered L{Call},
behind C{SIPEngine.dial()} (RFC 3261 §8.1 and §13.2, the UAC side).

  - The INVITE (L{roomkit_sip.engine.uac_requests}) carries our SDP offer
    and goes to C{proxy_addr}, the outbound proxy (§8.1.2), without a Route
    header: the proxy is given as an address, not a URI.
  - 401/407: retried with credentials, a new CSeq and the same Call-ID and
    From tag (§8.1.3.5, §22.2, §22.3); credentials refused (a fresh
    challenge to them), none given, or too many challenges
    (L{roomkit_sip.engine.uac_auth.MAX_CHALLENGES}): L{CallRejected}.  A
    422 is retried with the Min-SE it asks for (RFC 4028 §7.4).
  - Any other 3xx-6xx: L{CallRejected} with the status and reason phrase.
    Redirections are not followed (§8.1.3.4 leaves recursion to the UAC);
    the 3xx's Contacts are in C{CallRejected.response}.
  - No final answer within C{timeout}: the dial fails at once with
    L{DialTimeout} and the INVITE is cancelled, CANCEL going when a
    provisional response has arrived or as soon as one does (§9.1); with
    none at all the INVITE transaction gives up at Timer B.  Cancelling the
    returned Deferred does the same.  The claim and the RTP ports are freed
    at once; the transaction finishes in the background.
  - 2xx: the UAC dialog (§12.1.2), the ACK (§13.2.2.4), the SDP answer,
    the media, and a L{Call} with C{direction="outbound"} registered like
    an inbound one: C{call_answered}, then the Deferred fires.  A 2xx
    without a usable answer is ACKed and ended by BYE (§13.2.1 leaves the
    UAC no other way out), and the dial fails with L{CallFailed}.
  - Every further 2xx while the transaction lasts (RFC 6026 §7.2): a
    retransmission is ACKed again; another fork's answer, or the answer to
    an INVITE we gave up on, is ACKed and ended with BYE (§13.2.2.4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip.engine.call import Call, CallFailed
from roomkit_sip.engine.uac_auth import MAX_CHALLENGES, ChallengeResponder, DigestError
from roomkit_sip.engine.uac_requests import DialRequest
from roomkit_sip.sip.dialog import Dialog
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.message import Request, Response
from roomkit_sip.sip.offer_answer import OfferAnswerError
from roomkit_sip.sip.reason import Reason, q850
from roomkit_sip.sip.sdp import SDPParseError, parse_sdp
from roomkit_sip.sip.session_timer import uac_negotiated, uac_retry_after_422
from roomkit_sip.sip.transactions import (
    ClientTransaction,
    TransactionClosed,
    TransactionTimeout,
)
from roomkit_sip.transport.ports import PortsExhausted

if TYPE_CHECKING:
    from roomkit_sip.engine.services import EngineServices

__all__ = ["CallRejected", "DialTimeout", "OutgoingCall"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

#: RFC 3326 Reasons of the BYEs that end answers we do not want.
_ABANDONED = q850(16, "call attempt abandoned")
_OTHER_FORK = Reason("SIP", 200, "Call completed elsewhere")
_BAD_ANSWER = Reason("SIP", 488, "Not Acceptable Here")


class CallRejected(CallFailed):
    """
    The INVITE got a final 3xx-6xx answer: C{CallRejected(486, "Busy Here")}.

    @ivar response: that response (a 3xx's Contacts say where to try).
    """

    def __init__(self, status: int, reason: str, response: Response | None = None) -> None:
        super().__init__(reason, status)
        self.response = response


class DialTimeout(CallFailed, TimeoutError):
    """
    No final answer in time: our C{timeout} (C{status} C{None}), or the
    INVITE transaction's Timer B without any response (408, §8.1.3.1).
    """


class OutgoingCall:
    """
    One C{dial()}: the INVITE attempts until a 2xx hands over to a L{Call}.

    @ivar state: C{"calling"}, C{"proceeding"} (a provisional came),
        C{"answered"}, C{"failed"}, or C{"abandoned"} (timed out or
        cancelled; the INVITE is being cancelled).
    """

    def __init__(self, services: EngineServices, request: DialRequest) -> None:
        self._services = services
        self._request = request
        self.identity = request.identity
        self.call_id = request.identity.call_id
        self.session_id = request.identity.session_id
        self.state = "calling"
        self.result: Deferred[Call] = Deferred(self._cancel)
        self._auth = None if request.digest is None else ChallengeResponder(request.digest)
        self._challenges = 0
        self._session_expires = services.config.session_expires
        self._min_se: int | None = None
        self._ports: Any = None
        self._oa: Any = None
        self._txn: ClientTransaction | None = None
        self._invite: Request | None = None
        self._timer: IDelayedCall | None = None
        self._retrying: IDelayedCall | None = None
        self._early_sdp: dict[str | None, bytes] = {}
        self._dialog: Dialog | None = None
        self._call: Call | None = None
        #: Dialogs of 2xx we ACKed and ended with BYE, by To tag (re-ACKed).
        self._refused: dict[str | None, Dialog] = {}
        #: Fires when the INVITE transaction has ended (for a clean stop).
        self.finished: Deferred[None] = Deferred()

    # -- starting -------------------------------------------------------------------

    def start(self) -> Deferred[Call]:
        """Claim the session id, bind the RTP ports, send the INVITE."""
        services = self._services
        limit = services.config.max_sessions
        if services.draining:
            return self._fail_early(CallFailed("the engine is stopping"))
        if limit > 0 and services.registry.claimed >= limit:
            return self._fail_early(CallFailed("max_sessions reached", 503))
        if not services.registry.claim(self.session_id, self):
            return self._fail_early(CallFailed(f"session id {self.session_id!r} is in use"))
        try:
            self._ports = services.allocator.allocate()
        except PortsExhausted:
            services.registry.release(self.session_id, self)
            return self._fail_early(CallFailed("no RTP ports free", 503))
        self._oa = self._request.offer_answer(services, self._ports.rtp_port)
        services.registry.add_pending(self, self)
        timeout = self._request.timeout
        if timeout is not None:
            self._timer = services.reactor.callLater(timeout, self._expired)
        _log.info(
            "dialling {callee} from {caller} via {proxy} ({call_id})",
            callee=self.identity.callee,
            caller=self.identity.caller,
            proxy=self._request.proxy,
            call_id=self.call_id,
        )
        self._send_invite()
        return self.result

    def _fail_early(self, error: CallFailed) -> Deferred[Call]:
        self.state = "failed"
        self.finished.callback(None)
        self.result.errback(Failure(error))
        return self.result

    def _send_invite(self) -> None:
        request = self._request
        invite = request.invite(self._session_expires, self._min_se)
        if self._auth is not None:
            self._auth.authorize(invite)
        self._invite = invite
        transactions = self._services.sender.transactions
        assert transactions is not None
        try:
            txn = transactions.request(
                invite, request.proxy, request.transport,
                on_provisional=self._provisional, on_additional_2xx=self._additional_2xx,
            )  # fmt: skip
        except Exception as error:
            _log.warn("INVITE {call_id} not sent: {error}", call_id=self.call_id, error=error)
            self._failed(CallFailed(f"INVITE not sent: {error}", 503))
            self._transaction_ended()
            return
        self._txn = txn
        txn.final.addCallbacks(self._final, self._no_final, (invite,), None, (invite,))

    # -- responses ------------------------------------------------------------------

    def _provisional(self, response: Response) -> None:
        if response.status > 100 and self.state == "calling":
            self.state = "proceeding"
        if response.body and response.to.tag is not None:
            # The answer an unreliable 1xx may preview (§13.2.1); used only
            # if the 2xx of that branch comes without one.
            self._early_sdp[response.to.tag] = response.body

    def _final(self, response: Response, invite: Request) -> None:
        status = response.status
        if status < 300:
            self._transaction_ended()
            self._answered(response, invite)
            return
        if self.state != "abandoned" and self._retry(response, invite):
            return
        self._transaction_ended()
        if self.state != "abandoned":
            reason = response.reason or ""
            _log.info(
                "INVITE {call_id} to {callee} refused: {status} {reason}",
                call_id=self.call_id,
                callee=self.identity.callee,
                status=status,
                reason=reason,
            )
            self._failed(CallRejected(status, reason, response))

    def _retry(self, response: Response, invite: Request) -> bool:
        """A 401/407 we can answer, or a 422 (RFC 4028 §7.4): send again."""
        if ChallengeResponder.is_challenge(response):
            if self._auth is None or self._challenges >= MAX_CHALLENGES:
                return False
            try:
                self._auth.challenged(response, invite)
            except (DigestError, SIPParseError) as error:
                _log.info("INVITE {call_id}: {error}", call_id=self.call_id, error=error)
                return False
            self._challenges += 1
        elif response.status == 422:
            retry = uac_retry_after_422(response, self._session_expires, self._min_se)
            if retry is None:
                return False
            self._session_expires, self._min_se = retry
        else:
            return False
        # Next turn: the transaction ACKs the 4xx right after telling us of it,
        # and peers expect that ACK before the new INVITE.
        self._retrying = self._services.reactor.callLater(0, self._send_retry)
        return True

    def _send_retry(self) -> None:
        self._retrying = None
        if self.state in ("calling", "proceeding"):
            self._send_invite()

    def _no_final(self, failure: Failure, invite: Request) -> None:
        self._transaction_ended()
        if self.state == "abandoned":
            return
        if failure.check(TransactionTimeout):
            self._failed(DialTimeout("no response to the INVITE", 408))
        elif failure.check(TransactionClosed):
            self._failed(CallFailed("the engine stopped"))
        else:  # TransportFailure: §8.1.3.1 treats it as a 503
            self._failed(CallFailed(f"transport error: {failure.getErrorMessage()}", 503))

    def _transaction_ended(self) -> None:
        if not self.finished.called:
            self.finished.callback(None)

    # -- the answer -----------------------------------------------------------------

    def _answered(self, response: Response, invite: Request) -> None:
        """The first 2xx (§13.2.2.4): a call, or an ACK and BYE if we gave up."""
        if self.state == "abandoned":
            self._ack_and_bye(response, invite, _ABANDONED)
            return
        services = self._services
        request = self._request
        dialog = Dialog.for_uac(invite, response, transport=request.transport)
        self._dialog = dialog
        self._stop_timer()
        allows = tuple(m.upper() for m in response.headers.get_all("Allow"))
        call = Call(
            services, self.identity, dialog, self._oa, self._ports,
            (request.proxy, request.transport), peer_allows=allows, direction="outbound",
        )  # fmt: skip
        self._ports = None  # the call owns them now
        self._call = call
        services.dialogs.add(dialog)
        registry = services.registry
        registry.bind_dialog(dialog.id, call)
        registry.transfer(self.session_id, self, call)
        registry.remove_pending(self)
        self.state = "answered"
        services.sender.ack(dialog, invite, response, connection=call.connection)
        body = response.body or self._early_sdp.get(response.to.tag, b"")
        try:
            negotiation = self._oa.process_answer(parse_sdp(body))
        except (SDPParseError, OfferAnswerError, RuntimeError) as error:
            detail = str(error) or type(error).__name__
            _log.warn(
                "call {session_id}: no usable SDP answer in the 2xx: {detail}",
                session_id=self.session_id,
                detail=detail,
            )
            self._media_failed(call, f"no usable SDP answer: {detail}")
            return
        try:
            call._start_media(negotiation)
        except Exception:
            _log.failure("call {session_id}: media could not start", session_id=self.session_id)
            self._media_failed(call, "the media could not start")
            return
        call.metadata["sip_answered_at"] = services.reactor.seconds()
        try:
            timer = uac_negotiated(response, self._session_expires)
        except SIPParseError:
            timer = None  # a malformed Session-Expires: no timer rather than no call
        call._activate(timer)
        self.result.callback(call)

    def _media_failed(self, call: Call, why: str) -> None:
        """ACKed, but no session: BYE (with a SIP 488 Reason) and fail the dial."""
        call._terminate("media_not_established", reason=_BAD_ANSWER)
        self.result.errback(Failure(CallFailed(why)))

    def _additional_2xx(self, response: Response) -> None:
        """A 2xx after the first (RFC 6026 §7.2): re-ACK, or ACK and BYE a fork."""
        tag = response.to.tag
        dialog = self._refused.get(tag)
        if self._dialog is not None and tag == self._dialog.remote_tag:
            dialog = self._dialog
        invite = self._invite
        if dialog is not None:
            self._resend_ack(dialog, response)
        elif invite is not None and response.cseq.seq == invite.cseq.seq:
            _log.info("INVITE {call_id}: a second branch answered", call_id=self.call_id)
            self._ack_and_bye(response, invite, _OTHER_FORK)

    def _resend_ack(self, dialog: Dialog, response: Response) -> None:
        ack = dialog.ack_for(response)
        if ack is None:
            return
        sender = self._services.sender
        destination, transport = sender.route(dialog, self._connection)
        assert sender.transactions is not None
        sender.transactions.send_ack(ack, destination, transport)

    def _ack_and_bye(self, response: Response, invite: Request, reason: Reason) -> None:
        """ACK a 2xx we do not want, then end its dialog (§13.2.2.4, §15)."""
        try:
            dialog = Dialog.for_uac(invite, response, transport=self._request.transport)
        except (ValueError, SIPParseError):
            return  # no To tag: no dialog to acknowledge or end
        self._refused[dialog.remote_tag] = dialog
        sender = self._services.sender
        sender.ack(dialog, invite, response, connection=self._connection)
        final = sender.bye(dialog, reason, self._connection, self.session_id)
        if final is not None:
            self._services.track_bye(final)
        dialog.terminate()

    @property
    def _connection(self) -> tuple[tuple[str, int], str]:
        return self._request.proxy, self._request.transport

    # -- giving up ------------------------------------------------------------------

    def _expired(self) -> None:
        self._timer = None
        timeout = self._request.timeout
        _log.info(
            "INVITE {call_id}: no answer within {timeout} s", call_id=self.call_id, timeout=timeout
        )
        self.abandon(DialTimeout(f"no answer within {timeout:g} s"))

    def _cancel(self, result: Deferred[Call]) -> None:
        """The application cancelled C{dial()}'s Deferred (it fails with CancelledError)."""
        self.abandon(None)

    def abandon(self, error: CallFailed | None) -> Deferred[None]:
        """
        Give up the attempt: fail the dial with C{error} (unless C{None}),
        free the claim and the ports, and cancel the INVITE (§9.1).  A 2xx
        arriving later is ACKed and ended with BYE.

        @return: fires once the INVITE transaction has ended.
        """
        if self.state in ("calling", "proceeding"):
            self.state = "abandoned"
            self._release()
            txn = self._txn
            transactions = self._services.sender.transactions
            if txn is not None and transactions is not None and not txn.final.called:
                transactions.cancel(txn)
            if self._retrying is not None:  # between a challenge and the retry
                self._retrying.cancel()
                self._retrying = None
                self._transaction_ended()
            if error is not None and not self.result.called:
                self.result.errback(Failure(error))
        done: Deferred[None] = Deferred()
        self.finished.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    def _failed(self, error: CallFailed) -> None:
        self.state = "failed"
        self._release()
        if not self.result.called:
            self.result.errback(Failure(error))

    def _release(self) -> None:
        self._stop_timer()
        services = self._services
        services.registry.remove_pending(self)
        services.registry.release(self.session_id, self)
        ports, self._ports = self._ports, None
        if ports is not None:
            ports.release()

    def _stop_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
