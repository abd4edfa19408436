"""
Thousands of calls through one engine in memory, ending every way a call
ends: afterwards no timer, RTP port, socket, dialog, transaction or claim is
left, and the process has the same file descriptors it started with.
"""

from __future__ import annotations

import gc
import os
import weakref
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine import CallHandler
from roomkit_sip.media.watchdog import MediaWatchdog
from tests.engine._peer import PEER_IP, PEER_RTP, Harness, Recorder, assert_released
from tests.media._helpers import rtp

CALLS = int(os.environ.get("ROOMKIT_SIP_ENGINE_MEMORY_CHURN", "3000"))


def verdict(incoming: Any) -> Any:
    return (486, "Busy Here") if "X-Busy" in incoming.x_headers else None


class ChurnTests(SynchronousTestCase):
    def test_thousands_of_calls(self) -> None:
        fds_before = len(os.listdir("/proc/self/fd"))
        # T1 = 10 ms: transactions end 0.64 s after their last message, so
        # the memory clock never holds thousands of pending timers.
        h = Harness(Recorder(verdict=verdict), rtp_port_end=22000, port_quarantine=1.0, t1=0.01)
        handler = h.handler
        flows = [self.remote_bye, self.local_hangup, self.cancelled, self.rejected]
        for n in range(CALLS):
            flows[n % len(flows)](h)
            if n % 50 == 49:
                h.advance(1.0, step=0.5)  # let quarantined ports rest
        answered = CALLS // 2
        self.assertEqual(len(handler.ended), answered)
        self.assertEqual(
            h.engine.stats()["ended"],
            {"remote_bye": CALLS // 4, "local_hangup": CALLS // 4},
        )
        self.assertEqual(h.engine.stats()["rejected"], {486: CALLS // 4, 487: CALLS // 4})
        assert_released(self, h)
        self.assertEqual(len(os.listdir("/proc/self/fd")), fds_before)

    @staticmethod
    def answered(h: Harness) -> Any:
        c = h.caller()
        c.send_invite()
        ok = c.final()
        c.ack(ok)
        port = h.rtp_port(int(ok.body.split(b"m=audio ")[1].split()[0]))
        for seq in range(3):
            port.deliver(rtp(seq, seq * 160, b"\xff" * 160), (PEER_IP, PEER_RTP))
        return c

    def remote_bye(self, h: Harness) -> None:
        c = self.answered(h)
        c.send(c.request("BYE", content_type=None))
        assert c.statuses("BYE") == [200]

    def local_hangup(self, h: Harness) -> None:
        c = self.answered(h)
        [call] = [call for call in h.engine.list_sessions() if call.call_id == c.call_id]
        call.hangup(16)
        c.answer(c.requests("BYE")[0])

    def cancelled(self, h: Harness) -> None:
        h.handler.verdict = lambda incoming: incoming.MANUAL
        c = h.caller()
        c.send_invite()
        h.handler.verdict = verdict
        c.cancel()
        c.ack(c.final())

    def rejected(self, h: Harness) -> None:
        c = h.caller()
        c.send_invite(headers=[("X-Busy", "1")])
        c.ack(c.final())


class GarbageTests(SynchronousTestCase):
    def test_ended_calls_are_not_kept_alive(self) -> None:
        """
        Nothing of the engine holds an ended call: not the registry, not a
        timer, not a log event (a class-level Logger would make the call
        the event's log_source, kept by any observer that retains events).
        """
        calls: weakref.WeakSet[Any] = weakref.WeakSet()
        incoming: weakref.WeakSet[Any] = weakref.WeakSet()

        class Forgetful(CallHandler):
            def incoming_call(self, invite: Any) -> None:
                incoming.add(invite)

            def call_answered(self, call: Any) -> None:
                calls.add(call)

        h = Harness(Forgetful(), rtp_establishment_timeout=1.0)
        for n in range(6):
            c = h.caller()
            c.send_invite()
            c.ack()
            if n % 2:
                c.send(c.request("BYE", content_type=None))
            else:  # reaped: the watchdog logs and sends BYE
                h.advance(1.1)
                c.answer(c.requests("BYE")[0])
        h.settle()
        gc.collect()
        self.assertEqual((len(calls), len(incoming)), (0, 0))


class LowerLayerRetentionTests(SynchronousTestCase):
    def test_watchdog_event_does_not_keep_its_owner_alive(self) -> None:
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)

        class Owner:
            def timeout(self, reason: str) -> None:
                pass

        owner = Owner()
        alive = weakref.ref(owner)
        clock = Clock()
        watchdog = MediaWatchdog(clock, 1.0, 1.0, owner.timeout)
        watchdog.resume()
        clock.advance(1.1)
        self.assertTrue(events)
        del owner, watchdog
        gc.collect()
        self.assertIsNone(alive())
