# -*- test-case-name: tests.engine.test_session_timers -*-
"""
RFC 4028 session timers of one call: the one timer, and the refreshes we
send when we are the refresher.

The negotiation (who refreshes, how often, 422) is
L{roomkit_sip.sip.session_timer}'s; here the outcome is kept alive.  After
every refresh (a re-INVITE or UPDATE answered 2xx, in either direction) the
timer restarts:

  - we refresh: at half the interval (§10) we send an UPDATE when the peer
    allows it (no offer/answer needed), else a re-INVITE re-offering the
    current session; a 422 is retried with the larger interval it asks for
    (§7.4), a 491 after a random 0-2 s (RFC 3261 §14.1, we do not own the
    Call-ID), a 405/501 to UPDATE with a re-INVITE; a 408, a 481 or no
    answer at all ends the call (§10);
  - the peer refreshes: if no refresh came by C{interval - min(32,
    interval/3)} we send BYE (§10) with C{disconnect_reason="session_expired"}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip.engine.screening import ALLOW
from roomkit_sip.sip.errors import SIPParseError
from roomkit_sip.sip.offer_answer import OfferAnswerError
from roomkit_sip.sip.sdp import SDPParseError, parse_sdp
from roomkit_sip.sip.session_timer import (
    SessionTimer,
    uac_negotiated,
    uac_request_headers,
    uac_retry_after_422,
)

if TYPE_CHECKING:
    from roomkit_sip.engine.call import Call

__all__ = ["SessionTimerControl"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

#: Refresh failures that mean the dialog is gone (RFC 4028 §10).
_FATAL = (408, 481)


class SessionTimerControl:
    """
    @ivar timer: the session timer in force, or C{None}.
    @ivar refreshes: refreshes we sent that were answered 2xx.
    """

    def __init__(self, clock: IReactorTime, call: Call) -> None:
        self._clock = clock
        self._call = call
        self.timer: SessionTimer | None = None
        self._pending: IDelayedCall | None = None
        self._min_se: int | None = None
        self._stopped = False
        self._last_request: Any = None
        self.refreshes = 0

    def start(self, timer: SessionTimer | None) -> None:
        """A refresh happened (or the call was answered): restart from now."""
        self._cancel()
        self.timer = timer
        if timer is not None and not self._stopped:
            self._arm(timer.deadline, self._deadline)

    def stop(self) -> None:
        """For good: the call ends."""
        self._stopped = True
        self._cancel()

    def _arm(self, delay: float, action: Any) -> None:
        self._cancel()
        self._pending = self._clock.callLater(max(0.0, delay), action)

    def _cancel(self) -> None:
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None

    def _deadline(self) -> None:
        self._pending = None
        timer = self.timer
        if timer is None or self._stopped:
            return
        if timer.we_refresh:
            self._refresh(timer.interval, "UPDATE" in self._call._peer_allows)
        else:
            self._expire()

    def _expire(self) -> None:
        self._pending = None
        if not self._stopped:
            _log.warn("call {session_id}: session expired", session_id=self._call.session_id)
            self._call._terminate("session_expired")

    # -- refreshing (we are the refresher) -------------------------------------

    def _refresh(self, interval: int, update: bool) -> None:
        call = self._call
        if self._stopped or call.state != "active" or call._outgoing is not None:
            return
        headers = [
            *uac_request_headers(interval, min_se=self._min_se, refresher="uac"),
            ("Allow", ", ".join(ALLOW)),
        ]
        body = b""
        if not update:
            body = bytes(call._oa.offer())
        try:
            txn, request = call._services.sender.request(
                call.dialog, "UPDATE" if update else "INVITE", headers=headers, body=body,
                content_type="application/sdp" if body else None, connection=call.connection,
                on_additional_2xx=None if update else self._reack,
            )  # fmt: skip
        except Exception as e:
            _log.warn("call {session_id}: refresh not sent: {e}", session_id=call.session_id, e=e)
            call._oa.cancel_offer()
            self._arm(self._grace(), self._expire)
            return
        call._outgoing = txn
        self._last_request = request
        txn.final.addCallbacks(
            self._answered, self._no_answer, callbackArgs=(request, interval, update)
        )

    def _grace(self) -> float:
        timer = self.timer
        return 0.0 if timer is None else timer.expire_after - timer.refresh_after

    def _reack(self, response: Any) -> None:
        call = self._call
        call._services.sender.ack(
            call.dialog, self._last_request, response, connection=call.connection
        )

    def _answered(self, response: Any, request: Any, interval: int, update: bool) -> None:
        call = self._call
        call._outgoing = None
        if self._stopped or call.state != "active":
            return
        status = response.status
        if 200 <= status < 300:
            call.dialog.receive_response(response)
            if not update:
                call._services.sender.ack(
                    call.dialog, request, response, connection=call.connection
                )
                self._take_answer(response)
            self.refreshes += 1
            self.start(uac_negotiated(response, interval))
            return
        if not update:
            call._oa.cancel_offer()
        if status == 422:
            retry = uac_retry_after_422(response, interval, self._min_se)
            if retry is not None:
                interval, self._min_se = retry
                self._refresh(interval, update)
                return
        elif status == 491:
            self._arm(2.0 * call._services.random(), lambda: self._refresh(interval, update))
            return
        elif status in (405, 501) and update:
            self._refresh(interval, False)
            return
        _log.warn(
            "call {session_id}: session refresh answered {status}",
            session_id=call.session_id,
            status=status,
        )
        if status in _FATAL:
            call._terminate("session_expired")
        else:
            self._arm(self._grace(), self._expire)

    def _take_answer(self, response: Any) -> None:
        call = self._call
        try:
            negotiation = call._oa.process_answer(parse_sdp(response.body))
        except (SDPParseError, OfferAnswerError, RuntimeError, SIPParseError) as e:
            _log.warn(
                "call {session_id}: bad answer to our refresh: {e}",
                session_id=call.session_id,
                e=e,
            )
            return
        call._renegotiated(negotiation)

    def _no_answer(self, failure: Failure) -> None:
        call = self._call
        call._outgoing = None
        if self._stopped or call.state != "active":
            return
        call._oa.cancel_offer()
        _log.warn(
            "call {session_id}: session refresh failed: {error}",
            session_id=call.session_id,
            error=failure.getErrorMessage(),
        )
        call._terminate("session_expired")
