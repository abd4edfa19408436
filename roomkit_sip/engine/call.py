# -*- test-case-name: tests.engine.test_calls -*-
"""
L{Call}: one answered (or early-media) call, as the application sees it,
and the one path by which every call ends.

The public members are those of C{docs/engine.md}; the underscored methods
are the engine's (the pending INVITE, the in-dialog request handler and the
session timer call them).

Ending a call always goes through L{Call._terminate}, whatever ended it: it
sends BYE first when the dialog is confirmed and we are the ones ending it,
then stops every timer, closes the media (its ports go to the allocator's
quarantine), forgets the dialog and the session id, marks the call
C{ended}, and only then calls C{call_ended}, exactly once, for a call that
was answered.  A second call returns the same outcome and does nothing more.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from roomkit_sip.engine.events import DTMFEvent, PlayedFrame
from roomkit_sip.engine.identity import Identity, call_metadata, codec_metadata
from roomkit_sip.engine.in_dialog import answer_from_ack
from roomkit_sip.engine.info_dtmf import DTMF_RELAY, relay_body
from roomkit_sip.engine.media_link import apply_negotiation, open_media
from roomkit_sip.engine.session_timers import SessionTimerControl
from roomkit_sip.sip.dialog import Dialog, DialogState
from roomkit_sip.sip.reason import Reason, q850
from roomkit_sip.sip.sdp_session import OfferAnswerSession

if TYPE_CHECKING:
    from roomkit_sip.engine.services import EngineServices
    from roomkit_sip.media import MediaSession
    from roomkit_sip.sip.offer_answer import Negotiation
    from roomkit_sip.sip.session_timer import SessionTimer
    from roomkit_sip.transport.ports import PortPair

__all__ = ["Call", "CallFailed"]

#: Module-level, not per instance: an event's log_source would keep the
#: object (a call and its media) alive in any observer that retains events.
_log = Logger()

Addr = tuple[str, int]

#: RFC 3326 Reason of the BYEs the engine's reapers send (Q.850 102:
#: "recovery on timer expiry"; 16: normal clearing for a shutdown).
_REAPER_REASONS = {
    "ack_timeout": q850(102, "ACK timeout"),
    "media_lost": q850(102, "RTP timeout"),
    "media_not_established": q850(102, "no RTP received"),
    "session_expired": q850(102, "session expired"),
    "shutdown": q850(16, "service shutting down"),
}


def _weakly(method: Callable[..., Any]) -> Callable[..., Any]:
    """
    C{method} of a call, without keeping the call alive: the media layer
    logs through class-level Loggers, so a log event (its C{log_source}) can
    keep a media session, and through its callbacks the call, in any
    observer that retains events (Twisted's buffer before logging starts).
    """
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> Any:
        target = ref()
        return None if target is None else target(*args)

    return call


class CallFailed(RuntimeError):
    """
    A call ended before it was answered (no ACK, no usable answer in the
    ACK, the INVITE cancelled or rejected): what C{IncomingCall.answer()}
    fails with, and C{SIPEngine.dial()} too (a C{RuntimeError}, as roomkit's
    C{dial} raises; see L{roomkit_sip.engine.outgoing}).

    @ivar reason: a C{disconnect_reason}, C{"cancelled"}/C{"rejected"}, or
        for a call we placed the peer's reason phrase or what went wrong.
    @ivar status: the SIP status behind the failure (the final response of
        a refused outgoing call), C{None} when there is none.
    """

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{status} {reason}")
        self.reason = reason
        self.status = status


class Call:
    """
    A call with its dialog and media.

    @ivar state: C{"ringing"} (not yet answered), C{"early"} (183 early
        media), C{"active"} (answered), C{"ended"}.
    @ivar metadata: plain JSON-able values, see C{docs/engine.md}.
    """

    def __init__(
        self,
        services: EngineServices,
        identity: Identity,
        dialog: Dialog,
        offer_answer: OfferAnswerSession,
        ports: PortPair,
        connection: tuple[Addr, str],
        *,
        peer_allows: tuple[str, ...] = (),
        direction: str = "inbound",
    ) -> None:
        self._services = services
        self._identity = identity
        self.call_id = identity.call_id
        self.session_id = identity.session_id
        self.room_id = identity.room_id
        self.participant_id = identity.participant_id
        self.direction = direction
        self.state = "ringing"
        self.metadata: dict[str, Any] = {}
        self.codec: Any = None
        self.sample_rate = 0
        self.clock_rate = 0
        self._dialog = dialog
        self._oa = offer_answer
        self._ports: PortPair | None = ports
        self._connection = connection
        self._peer_allows = peer_allows
        self._media: MediaSession | None = None
        self._negotiation: Negotiation | None = None
        self._answered = False
        self._listeners: list[Callable[[Call, PlayedFrame], object]] = []
        self._final_stats: dict[str, Any] | None = None
        self._closed: Deferred[None] | None = None
        #: CSeq number -> (INVITE server transaction, whether its ACK carries the answer).
        self._ack_waits: dict[int, tuple[Any, bool]] = {}
        #: IncomingCall.answer() Deferreds: fire with the call once answered.
        self._answer_waiters: list[Deferred[Call]] = []
        #: Set while early: ends the call by rejecting its INVITE instead of BYE.
        self._early_end: Callable[[str, Reason | None], None] | None = None
        #: Our re-INVITE/UPDATE (a session refresh) awaiting its final answer.
        self._outgoing: Any = None
        #: The session timer of the 2xx, started once the call is answered.
        self._answer_timer: SessionTimer | None = None
        self._timers = SessionTimerControl(services.reactor, self)

    # -- identity and media properties -----------------------------------------

    @property
    def dialog(self) -> Dialog:
        """The SIP dialog (engine-internal)."""
        return self._dialog

    @property
    def connection(self) -> tuple[Addr, str]:
        """C{(peer address, transport)} the call was set up over."""
        return self._connection

    @property
    def is_playing(self) -> bool:
        """Audio queued or being sent."""
        return self._media is not None and self._media.is_playing

    # -- the application's API ----------------------------------------------------

    def send_audio(self, pcm: bytes) -> None:
        """Queue PCM (16-bit LE mono at L{sample_rate}) for paced playback."""
        if self._media is not None and self.state != "ended":
            self._media.send_audio(pcm)

    def end_of_response(self) -> None:
        """The queued audio is a complete response: its last frame is padded."""
        if self._media is not None and self.state != "ended":
            self._media.end_of_response()

    def wait_playback(self) -> Deferred[bool]:
        """Fires C{True} once what was queued has been sent, C{False} if interrupted."""
        if self._media is None or self.state == "ended":
            return succeed(False)
        return self._media.when_drained()

    def interrupt(self) -> bool:
        """Barge-in: drop the queued audio; whether something was playing."""
        if self._media is None or self.state == "ended":
            return False
        return self._media.interrupt()

    def send_audio_now(self, pcm: bytes) -> bool:
        """One frame straight to RTP, bypassing the pacer; whether it was sent."""
        if self._media is None or self.state == "ended":
            return False
        return self._media.send_audio_now(pcm)

    def send_dtmf(self, digit: str, duration_ms: float = 160) -> Deferred[bool]:
        """
        A key press: RFC 4733 events when telephone-event was negotiated,
        otherwise a SIP INFO with C{application/dtmf-relay}.

        @return: fires C{True} once sent (the INFO answered 2xx).
        @raise ValueError: not a DTMF key, or a non-positive duration.
        """
        body = relay_body(digit, duration_ms)
        if self.state not in ("active", "early") or self._media is None:
            return succeed(False)
        negotiation = self._negotiation
        if negotiation is not None and negotiation.dtmf_payload_type is not None:
            return self._media.send_dtmf(digit, duration_ms)
        if self.state != "active":
            return succeed(False)
        try:
            txn, _ = self._services.sender.request(
                self._dialog, "INFO", body=body, content_type=DTMF_RELAY,
                connection=self._connection,
            )  # fmt: skip
        except Exception as e:
            _log.warn("call {session_id}: INFO not sent: {e}", session_id=self.session_id, e=e)
            return succeed(False)
        return txn.final.addCallbacks(lambda r: 200 <= r.status < 300, lambda _: False)

    def on_played(self, callback: Callable[[Call, PlayedFrame], object]) -> Callable[[], None]:
        """Report every frame sent as C{callback(call, PlayedFrame)}; returns an unsubscribe."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def hangup(self, cause: int | None = None, text: str | None = None) -> Deferred[None]:
        """
        End the call: BYE with an RFC 3326 C{Reason: Q.850;cause=...;text=...}
        when C{cause} is given (an early call's INVITE is rejected instead).

        @return: fires once the call's resources are released.
        """
        reason = q850(cause, text) if cause is not None else None
        if self.state in ("ringing", "early") and self._early_end is not None:
            self._early_end("local_hangup", reason)
        return self._terminate("local_hangup", reason=reason)

    def stats(self) -> dict[str, Any]:
        """Media statistics: packets, loss, jitter, concealment, RTT, MOS (C{docs/engine.md})."""
        if self._final_stats is not None:
            return dict(self._final_stats)
        if self._media is None:
            return {}
        return self._media.stats()

    # -- engine-internal: media -----------------------------------------------------

    def _start_media(self, negotiation: Negotiation) -> None:
        """Open the media on the call's ports for C{negotiation}."""
        assert self._ports is not None
        services = self._services
        self._media = open_media(
            services.reactor, self._ports, negotiation, media_clock=services.media_clock,
            config=services.media_config, on_audio=_weakly(self._audio),
            on_dtmf=_weakly(self._dtmf), on_media_timeout=_weakly(self._media_timeout),
            on_played=_weakly(self._played),
        )  # fmt: skip
        self._ports = None  # the media session owns them now
        self._set_negotiation(negotiation)

    def _set_negotiation(self, negotiation: Negotiation) -> None:
        self._negotiation = negotiation
        codec = negotiation.codec
        if codec is not self.codec:
            self.codec = codec
            self.sample_rate = int(codec.sample_rate)  # type: ignore[attr-defined]
            self.clock_rate = int(codec.clock_rate)
            if self.metadata:
                self.metadata.update(codec_metadata(codec))
            else:
                self.metadata.update(call_metadata(self._identity, codec, self.direction))

    def _renegotiated(self, negotiation: Negotiation) -> list[str]:
        """A re-INVITE/UPDATE (or the answer to ours) changed the session."""
        old = self._negotiation
        if self._media is None or old is None:
            return []
        changes = apply_negotiation(self._media, old, negotiation)
        self._set_negotiation(negotiation)
        if changes:
            _log.info(
                "call {session_id}: session changed: {changes}",
                session_id=self.session_id,
                changes=", ".join(changes),
            )
        return changes

    def _audio(self, pcm: bytes) -> None:
        self._services.notifier.audio(self, pcm)

    def _dtmf(self, digit: str, duration_ms: float) -> None:
        self._services.notifier.dtmf(self, DTMFEvent(digit, float(duration_ms), "rfc4733"))

    def _played(self, pcm: bytes, timestamp: int, played: int, queued: float, ended: bool) -> None:
        if not self._listeners:
            return
        frame = PlayedFrame(pcm, timestamp, played, queued, ended)
        for listener in list(self._listeners):
            try:
                listener(self, frame)
            except Exception:
                _log.failure(
                    "on_played callback failed for {session_id}", session_id=self.session_id
                )

    def _media_timeout(self, reason: str) -> None:
        if self.state in ("ringing", "early") and self._early_end is not None:
            self._early_end(reason, None)
        self._terminate(reason)

    # -- engine-internal: answer and ACK --------------------------------------------

    def _activate(self, timer: SessionTimer | None) -> None:
        """The 200 OK went out with the answer (or the ACK brought it): answered."""
        services = self._services
        self._early_end = None
        self.state = "active"
        self._answered = True
        services.registry.add_call(self)
        services.stats.answered += 1
        self._timers.start(timer)
        _log.info(
            "call {session_id} answered: {caller} -> {callee}, {codec}",
            session_id=self.session_id,
            caller=self._identity.caller,
            callee=self._identity.callee,
            codec=self.metadata.get("codec"),
        )
        services.notifier.call_answered(self)
        waiters, self._answer_waiters = self._answer_waiters, []
        for d in waiters:
            d.callback(self)

    def _when_answered(self) -> Deferred[Call]:
        """Fires with this call once answered; fails with L{CallFailed} if it ends first."""
        if self._answered:
            return succeed(self)
        d: Deferred[Call] = Deferred()
        if self.state == "ended":
            d.errback(Failure(CallFailed(self.metadata.get("disconnect_reason", "ended"))))
        else:
            self._answer_waiters.append(d)
        return d

    def _expect_ack(self, txn: Any, seq: int, answer_in_ack: bool) -> None:
        self._ack_waits[seq] = (txn, answer_in_ack)
        self._services.registry.expect_ack(txn, self)

    def _ack(self, ack: Any) -> None:
        """An ACK for one of our 2xx (every copy comes here: the first counts)."""
        entry = self._ack_waits.pop(ack.cseq.seq, None)
        if entry is None or self.state == "ended":
            return
        txn, answer_in_ack = entry
        self._services.registry.forget_ack(txn)
        if answer_in_ack:
            answer_from_ack(self, ack)

    def _ack_timeout(self, txn: Any) -> None:
        """Timer L: a 2xx of ours was never acknowledged (§13.3.1.4): BYE."""
        for seq, (waiting, _) in list(self._ack_waits.items()):
            if waiting is txn:
                del self._ack_waits[seq]
        self._services.registry.forget_ack(txn)
        if self.state != "ended":
            _log.warn("call {session_id}: no ACK for our 2xx", session_id=self.session_id)
            self._terminate("ack_timeout")

    # -- the end --------------------------------------------------------------------

    def _terminate(
        self, why: str, *, bye: bool = True, reason: Reason | None = None
    ) -> Deferred[None]:
        """
        End the call for C{why} (a C{disconnect_reason}); see the module
        docstring.  C{bye}: send BYE (when the dialog is confirmed) with
        C{reason}, or the reapers' default Reason.

        @return: fires once the media's sockets are closed.
        """
        if self._closed is None:
            self._closed = Deferred()
            self._shutdown(why, bye, reason).addBoth(self._closed.callback)
        done: Deferred[None] = Deferred()
        self._closed.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    def _shutdown(self, why: str, bye: bool, reason: Reason | None) -> Deferred[Any]:
        services = self._services
        dialog = self._dialog
        if bye and dialog.state is DialogState.CONFIRMED:
            reason = reason if reason is not None else _REAPER_REASONS.get(why)
            final = services.sender.bye(dialog, reason, self._connection, self.session_id)
            if final is not None:
                services.track_bye(final)
        self._timers.stop()
        for txn, _ in self._ack_waits.values():
            services.registry.forget_ack(txn)
        self._ack_waits.clear()
        closed: Deferred[Any]
        if self._media is not None:
            self._final_stats = self._media.stats()
            closed = self._media.close(why)
        elif self._ports is not None:
            self._final_stats = {}
            closed = self._ports.release()
            self._ports = None
        else:
            self._final_stats = {}
            closed = succeed(None)
        services.registry.unbind_dialog(dialog.id, self)
        services.dialogs.remove(dialog)
        dialog.terminate()
        services.registry.remove_call(self)
        services.registry.release(self.session_id, self)
        self._early_end = None
        answered = self._answered
        self.metadata["disconnect_reason"] = why
        self.state = "ended"
        if answered:
            services.stats.ended[why] += 1
            _log.info("call {session_id} ended: {why}", session_id=self.session_id, why=why)
            services.notifier.call_ended(self)
        waiters, self._answer_waiters = self._answer_waiters, []
        for d in waiters:
            d.errback(Failure(CallFailed(why)))
        return closed
