"""
The call engine under load from the real SIPp: 200 concurrent calls with
media, and a few hundred short calls in a row that must leave no file
descriptor, RTP port or timer behind.
"""

from __future__ import annotations

import os

from twisted.internet import defer, reactor, task, utils

from tests.interop import sipp
from tests.interop.test_engine_calls import EchoHandler, EngineInteropCase

#: Concurrent calls of the load test (C{ROOMKIT_SIP_ENGINE_LOAD_CALLS} to change).
LOAD_CALLS = int(os.environ.get("ROOMKIT_SIP_ENGINE_LOAD_CALLS", "200"))
#: Calls of the real-socket churn run.
CHURN_CALLS = int(os.environ.get("ROOMKIT_SIP_ENGINE_CHURN_CALLS", "300"))


def fd_table() -> dict[str, str]:
    """This process's open file descriptors and what they point to."""
    table = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            table[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the descriptor listdir itself used
    return table


def open_fds() -> int:
    """File descriptors this process has open now."""
    return len(fd_table())


class LoadTests(EngineInteropCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_200_concurrent_calls_with_media(self):
        """
        (n) 200 calls set up at once (SIPp -m 200 -l 200), each playing a
        second of tone that the application echoes: every call succeeds,
        the echo of (almost) every packet comes back, and once the calls
        are over the engine holds no session and no port.
        """
        handler = EchoHandler()
        engine = self.start_engine(handler)
        sink = self.media()
        calls = LOAD_CALLS
        result = yield sipp.run_sipp(
            reactor,
            "uac_basic_rtp.xml",
            remote=self.remote,
            calls=calls,
            rate=calls,
            limit=calls,
            rtp_sink=sink,
            files=sipp.media_files(seconds=1.0),
            pause_ms=1500,
            timeout_s=30,
        )
        result.assert_ok(calls=calls)
        self.assertEqual(len(handler.answered), calls)
        self.assertEqual(len(handler.ended), calls)
        # Every packet comes back on a quiet machine; a loaded CI host may drop
        # some datagrams in socket buffers (SIPp and the engine share two
        # cores), which says nothing about the engine's correctness.
        self.assertGreaterEqual(len(sink.stream(0)), 0.75 * calls * 50)
        self.assertEqual(engine.list_sessions(), [])
        self.assertEqual(engine._services.allocator.allocated, 0)
        stats = engine.stats()
        self.assertEqual((stats["calls_total"], stats["ended"]), (calls, {"remote_bye": calls}))


class ChurnTests(EngineInteropCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_short_calls_leave_nothing_behind(self):
        """
        Hundreds of short calls through real sockets: file descriptors,
        delayed calls and allocated ports are back where they started once
        the engine stopped.
        """
        # Spawning a process opens the reactor's child waker pipe once and for
        # all: do it before counting.
        yield utils.getProcessValue("/bin/true")
        fds_before = open_fds()
        timers_before = len(reactor.getDelayedCalls())
        handler = EchoHandler()
        engine = self.start_engine(handler, port_quarantine=0.2)
        allocator = engine._services.allocator
        sipp.require_raw_sockets()
        result = yield sipp.run_sipp(
            reactor,
            "uac_basic_rtp.xml",
            remote=self.remote,
            calls=CHURN_CALLS,
            rate=150,
            limit=60,
            files=sipp.media_files(seconds=0.1),
            pause_ms=150,
            timeout_s=40,
        )
        result.assert_ok(calls=CHURN_CALLS)
        self.assertEqual(len(handler.ended), CHURN_CALLS)
        during = (open_fds(), allocator.allocated)
        yield engine.stop()
        for _ in range(50):
            if open_fds() <= fds_before:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        figures = {
            "calls": CHURN_CALLS,
            "fds": (fds_before, during[0], open_fds()),
            "allocated ports": (0, during[1], allocator.allocated),
            "delayed calls": (timers_before, len(reactor.getDelayedCalls())),
        }
        self.assertEqual(during[0], fds_before + 1, figures)  # the SIP socket only
        self.assertEqual(open_fds(), fds_before, figures)
        self.assertEqual(allocator.allocated, 0, figures)
        self.assertEqual(len(reactor.getDelayedCalls()), timers_before, figures)
        print(f"\nchurn through SIPp: {figures}")
