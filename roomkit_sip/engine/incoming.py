# -*- test-case-name: tests.engine.test_incoming -*-
"""
L{IncomingCall}: a new INVITE from its 100 Trying to its final answer.

The pipeline (C{docs/engine.md}, "Behaviour"): 100 at once; the admission
steps of L{roomkit_sip.engine.admission} (capacity, authentication,
identity, session timer, SDP, RTP ports); then the application's
C{incoming_call} hook decides: answer automatically (180, then 200), reject
with any status, or take over (C{MANUAL}) and drive L{IncomingCall.ring},
L{IncomingCall.progress} (183 with early media) and L{IncomingCall.answer}
itself.

A CANCEL (or a BYE on the early dialog, §15.1.2) wins over everything still
running: the INVITE is answered 487, the admission or the hook's Deferred is
cancelled, nothing is answered, and the claim, the ports and the early
dialog are released.  If nobody answers within C{ring_timeout} seconds the
caller gets 480.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip.engine.admission import Admission, Refused, admit
from roomkit_sip.engine.call import Call, CallFailed
from roomkit_sip.engine.identity import Identity
from roomkit_sip.engine.in_dialog import capability_headers, early_request
from roomkit_sip.sip.dialog import Dialog
from roomkit_sip.sip.message import Request
from roomkit_sip.sip.reason import Reason
from roomkit_sip.sip.transaction import new_tag

if TYPE_CHECKING:
    from roomkit_sip.engine.services import EngineServices

__all__ = ["MANUAL", "CallFailed", "IncomingCall"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()


class _Manual:
    def __repr__(self) -> str:
        return "MANUAL"


#: What C{incoming_call} returns to answer later through the L{IncomingCall}.
MANUAL = _Manual()


class IncomingCall:
    """
    An INVITE waiting for its answer; what C{ICallHandler.incoming_call} gets.

    Read-only: C{call_id}, C{caller} and C{callee} (From and To URIs),
    C{caller_display_name}, C{room_id} and C{session_id} (resolved as for
    the call: the X-header or the Call-ID), C{x_headers}, C{source_addr},
    C{sdp_offer} (the SDP text, C{None} for a late offer), C{request} (the
    parsed INVITE), C{codec} (what the answer chose, C{None} for a late
    offer) and C{authenticated_user}.

    @ivar state: C{"admitting"}, C{"deciding"}, C{"ringing"}, C{"early"},
        C{"answered"}, C{"rejected"} or C{"cancelled"}.
    """

    MANUAL = MANUAL

    def __init__(self, services: EngineServices, txn: Any, request: Request) -> None:
        self._services = services
        self._txn = txn
        self.request = request
        self.identity = identity = Identity.of(request)
        self.call_id = identity.call_id
        self.caller = identity.caller
        self.callee = identity.callee
        self.caller_display_name = identity.caller_display_name
        self.room_id = identity.room_id
        self.session_id = identity.session_id
        self.x_headers = dict(identity.x_headers)
        self.source_addr: tuple[str, int] = txn.source
        self.transport: str = txn.transport
        self.sdp_offer = request.body.decode("utf-8", "replace") if request.body else None
        self.authenticated_user: str | None = None
        self.state = "admitting"
        self._to_tag = new_tag()
        self._admission: Admission | None = None
        self._pending: Deferred[Any] | None = None
        self._dialog: Dialog | None = None
        self._call: Call | None = None
        self._ring_timer: IDelayedCall | None = None
        self._cancel_waiters: list[Deferred[None]] = []
        self._done = False

    @property
    def codec(self) -> Any:
        """The codec of our answer, C{None} before admission or for a late offer."""
        admission = self._admission
        return (
            None
            if admission is None or admission.negotiation is None
            else (admission.negotiation.codec)
        )

    # -- the pipeline ---------------------------------------------------------------

    def start(self) -> None:
        """Run admission, then the application's hook (the 100 went already)."""
        services = self._services
        services.stats.invites += 1
        services.registry.add_pending(self._txn, self)
        d = admit(services, self)
        self._pending = d
        d.addCallbacks(self._admitted, self._refused)

    def _refused(self, failure: Failure) -> None:
        self._pending = None
        if self._done or failure.check(CancelledError):
            return
        if failure.check(Refused):
            refusal = failure.value
            if refusal.auth_failure:
                self._services.stats.auth_failures += 1
            self._final(refusal.status, refusal.reason, refusal.headers)
            return
        _log.failure("INVITE {call_id}: admission failed", failure, call_id=self.call_id)
        self._final(500)

    def _admitted(self, admission: Admission) -> None:
        self._pending = None
        if self._done:  # cannot happen (admission ends synchronously once judged)
            admission.ports.release()
            return
        self._admission = admission
        self.state = "deciding"
        timeout = self._services.config.ring_timeout
        if timeout > 0:
            self._ring_timer = self._services.reactor.callLater(timeout, self._ring_timeout)
        d = self._services.notifier.incoming_call(self)
        if not d.called:
            self._pending = d
        d.addCallbacks(self._verdict, self._hook_failed)

    def _verdict(self, verdict: Any) -> None:
        self._pending = None
        if self._done:
            return
        if verdict is None:
            if self.state == "deciding":  # the hook may have rung already
                self.ring()
            self.answer().addErrback(lambda _: None)  # the call's end is logged
        elif verdict is MANUAL:
            return
        elif _is_rejection(verdict):
            status, reason = verdict
            self.reject(int(status), None if reason is None else str(reason))
        else:
            _log.error(
                "incoming_call returned {verdict!r}: expected None, (status, reason) or MANUAL",
                verdict=verdict,
            )
            self._final(500)

    def _hook_failed(self, failure: Failure) -> None:
        self._pending = None
        if self._done or failure.check(CancelledError):
            return
        _log.failure("incoming_call failed for {call_id}", failure, call_id=self.call_id)
        self._final(500)

    def _ring_timeout(self) -> None:
        self._ring_timer = None
        if not self._done:
            _log.info("INVITE {call_id}: not answered in time", call_id=self.call_id)
            self._final(480)

    # -- what the application may do -----------------------------------------------

    def ring(self) -> None:
        """Send 180 Ringing (creates the early dialog)."""
        if self._deciding():
            self._provisional(180)
            if self.state == "deciding":
                self.state = "ringing"

    def progress(self) -> Call | None:
        """
        Send 183 Session Progress with our SDP answer: early media starts,
        and the returned L{Call} (state C{"early"}) can already play audio.
        For an INVITE without SDP there is nothing to answer in an
        unreliable provisional response: 183 goes without a body and
        C{None} is returned.
        """
        if not self._deciding():
            return None
        admission = self._admission
        assert admission is not None
        if admission.answer is None:
            self._provisional(183)
            return None
        call = self._ensure_call()
        if call._media is None:
            assert admission.negotiation is not None
            call._start_media(admission.negotiation)
        call.state = self.state = "early"
        self._provisional(183, bytes(admission.answer))
        return call

    def answer(self) -> Deferred[Call]:
        """
        Send 200 OK with our SDP (the answer, or for a late offer our offer).

        @return: fires with the L{Call} once it is answered: now, or when the
            ACK brings the answer to our offer; fails with L{CallFailed} if
            it ends first (no ACK, no usable answer).
        """
        if not self._deciding():
            return fail(CallFailed(self.state))
        admission = self._admission
        assert admission is not None
        call = self._ensure_call()
        late = admission.answer is None
        body = bytes(admission.offer_answer.offer() if late else admission.answer)
        assert self._dialog is not None
        self._dialog.confirm()
        headers: list[tuple[str, object]] = [("Contact", self._contact())]
        headers += capability_headers(self._services)
        headers += admission.session_timer.headers
        headers.append(("Content-Type", "application/sdp"))
        self._txn.reply(200, to_tag=self._to_tag, headers=headers, body=body)
        self._hand_over(call)
        self.state = "answered"
        call._answer_timer = admission.session_timer.timer
        call._expect_ack(self._txn, self.request.cseq.seq, late)
        answered = call._when_answered()
        if not late:
            try:
                if call._media is None:
                    assert admission.negotiation is not None
                    call._start_media(admission.negotiation)
            except Exception:
                _log.failure("call {call_id}: media could not start", call_id=self.call_id)
                call._terminate("media_not_established")
                return answered
            call._activate(call._answer_timer)
        return answered

    def reject(self, status: int, reason: str | None = None) -> None:
        """
        Answer the INVITE with C{status} (300-699) and C{reason}.

        @raise ValueError: C{status} is not a final non-2xx status.
        """
        if not 300 <= status <= 699:
            raise ValueError(f"cannot reject with status {status}")
        if reason is not None:
            reason = " ".join(reason.split())  # a reason phrase is one line (§7.2)
        if not self._done:
            self._final(status, reason)

    def when_cancelled(self) -> Deferred[None]:
        """Fires if the caller cancels (CANCEL, or BYE before the answer)."""
        d: Deferred[None] = Deferred()
        if self.state == "cancelled":
            d.callback(None)
        elif not self._done:
            self._cancel_waiters.append(d)
        return d

    # -- what the endpoint tells it ------------------------------------------------

    def _cancelled(self) -> None:
        """A CANCEL matched the INVITE (its 200 went), or a BYE ended the early dialog."""
        if self._done:
            return
        _log.info("INVITE {call_id} cancelled by the caller", call_id=self.call_id)
        self._services.stats.cancelled += 1
        self._final(487, outcome="cancelled")

    def _aborted(self) -> None:
        """The transaction failed (transport error): nothing more can be sent."""
        if not self._done:
            self._finish("rejected")

    def _early_request(self, txn: Any, request: Request) -> None:
        """An in-dialog request on the early dialog (other than BYE)."""
        early_request(self._services, self._call, txn, request)

    # -- internals -------------------------------------------------------------------

    def _deciding(self) -> bool:
        return not self._done and self.state in ("deciding", "ringing", "early")

    def _contact(self) -> Any:
        return self._services.transports.contact(self.source_addr[0], self.transport)

    def _ensure_dialog(self) -> Dialog:
        if self._dialog is None:
            dialog = Dialog.for_uas(
                self.request, self._to_tag, contact=self._contact(), transport=self.transport
            )
            self._services.dialogs.add(dialog)
            self._services.registry.bind_dialog(dialog.id, self)
            self._dialog = dialog
        return self._dialog

    def _ensure_call(self) -> Call:
        if self._call is None:
            admission = self._admission
            assert admission is not None
            allows = tuple(m.upper() for m in self.request.headers.get_all("Allow"))
            call = Call(
                self._services, self.identity, self._ensure_dialog(), admission.offer_answer,
                admission.ports, (self.source_addr, self.transport), peer_allows=allows,
            )  # fmt: skip
            call._early_end = self._early_ended
            self._call = call
        return self._call

    def _hand_over(self, call: Call) -> None:
        """The call owns the dialog and the claim from the 200 on."""
        registry = self._services.registry
        assert self._dialog is not None
        registry.bind_dialog(self._dialog.id, call)
        registry.transfer(self.session_id, self, call)
        registry.remove_pending(self._txn)
        call._early_end = None
        self._done = True
        self._stop_timer()

    def _provisional(self, status: int, body: bytes = b"") -> None:
        self._ensure_dialog()
        headers: list[tuple[str, object]] = [("Contact", self._contact())]
        headers += capability_headers(self._services)
        if body:
            headers.append(("Content-Type", "application/sdp"))
        self._txn.reply(status, to_tag=self._to_tag, headers=headers, body=body)

    def _early_ended(self, why: str, reason: Reason | None) -> None:
        headers = (("Reason", str(reason)),) if reason is not None else ()
        if not self._done:
            self._final(480, None, headers)

    def _final(
        self,
        status: int,
        reason: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        outcome: str = "rejected",
    ) -> None:
        services = self._services
        services.stats.rejected[status] += 1
        self._txn.reply(
            status,
            reason,
            to_tag=self._to_tag,
            headers=[*headers, *services.server_headers()],
        )
        self._finish(outcome)

    def _finish(self, outcome: str) -> None:
        self._done = True
        self.state = outcome
        self._stop_timer()
        services = self._services
        services.registry.remove_pending(self._txn)
        pending, self._pending = self._pending, None
        if pending is not None and not pending.called:
            pending.cancel()
        call, self._call = self._call, None
        if call is not None:
            call._early_end = None
            call._terminate(outcome, bye=False)  # closes the media and its ports
        elif self._admission is not None:
            self._admission.ports.release()
        if self._dialog is not None:
            services.registry.unbind_dialog(self._dialog.id, self)
            services.dialogs.remove(self._dialog)
            self._dialog.terminate()
        services.registry.release(self.session_id, self)
        waiters, self._cancel_waiters = self._cancel_waiters, []
        for d in waiters:
            if outcome == "cancelled":
                d.callback(None)

    def _stop_timer(self) -> None:
        if self._ring_timer is not None and self._ring_timer.active():
            self._ring_timer.cancel()
        self._ring_timer = None


def _is_rejection(verdict: Any) -> bool:
    return (
        isinstance(verdict, tuple)
        and len(verdict) == 2
        and isinstance(verdict[0], int)
        and 300 <= verdict[0] <= 699
    )
