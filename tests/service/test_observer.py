"""The observer: one log line per call start and end, counts, webhook events, delegation."""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import eventAsJSON, eventFromJSON, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.engine.handler import CallHandler
from roomkit_sip.interfaces import ICallHandler
from roomkit_sip.service.callinfo import IDENTITY_KEYS
from roomkit_sip.service.observer import CallObserver
from tests.service._fakes import FakeCall, FakeIncomingCall, dtmf, tone


class RecordingApp(CallHandler):
    """Notes every call it gets; answers with whatever the test set."""

    def __init__(self) -> None:
        self.seen: list[tuple] = []
        self.verdict: object = None
        self.fail_on: str | None = None

    def _note(self, name: str, *args: object) -> None:
        self.seen.append((name, *args))
        if name == self.fail_on:
            raise RuntimeError(f"{name} broke")

    def incoming_call(self, incoming):
        self._note("incoming_call", incoming)
        return self.verdict

    def call_answered(self, call):
        self._note("call_answered", call)

    def audio_received(self, call, pcm):
        self._note("audio_received", call, pcm)

    def dtmf_received(self, call, event):
        self._note("dtmf_received", call, event)

    def call_ended(self, call):
        self._note("call_ended", call)


class ObserverTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.app = RecordingApp()
        self.events: list[dict] = []
        self.observer = CallObserver(self.app, self.clock, self.events.append)
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def test_provides_call_handler(self) -> None:
        verifyObject(ICallHandler, self.observer)

    def test_incoming_call_verdict_passed_through(self) -> None:
        incoming = FakeIncomingCall(FakeCall())
        for verdict in (None, (486, "Busy Here"), FakeIncomingCall.MANUAL, Deferred()):
            self.app.verdict = verdict
            self.assertIs(self.observer.incoming_call(incoming), verdict)
        self.assertEqual(self.app.seen[-1], ("incoming_call", incoming))
        self.assertEqual(self.events, [])

    def test_everything_delegated_in_order(self) -> None:
        call = FakeCall()
        frame = tone(8000)
        key = dtmf("3")
        self.observer.call_answered(call)
        self.observer.audio_received(call, frame)
        self.observer.dtmf_received(call, key)
        call.end()
        self.observer.call_ended(call)
        self.assertEqual(
            self.app.seen,
            [
                ("call_answered", call),
                ("audio_received", call, frame),
                ("dtmf_received", call, key),
                ("call_ended", call),
            ],
        )

    def test_one_log_line_per_start_and_end(self) -> None:
        call = FakeCall("c1@pbx", codec="G722", stats={"packets_in": 500, "packets_out": 498})
        self.observer.call_answered(call)
        self.observer.audio_received(call, tone(16000))
        self.clock.advance(12.5)
        call.set_stats({"packets_in": 625, "packets_out": 620, "lost": 3, "jitter_ms": 2.0})
        call.end("remote_bye", {"cause": 16, "text": "Normal"})
        self.observer.call_ended(call)
        self.assertEqual(
            [formatEvent(e) for e in self.logged],
            [
                "call c1@pbx started: sip:alice@example.com -> sip:bot@example.net, G722 16000 Hz",
                "call c1@pbx ended: remote_bye after 12.5 s (RTP in 625, out 620, lost 3)",
            ],
        )
        end = self.logged[1]
        self.assertEqual(end["bye_reason"], {"cause": 16, "text": "Normal"})
        self.assertEqual(end["stats"]["jitter_ms"], 2.0)
        self.assertEqual(end["call_id"], "c1@pbx")

    def test_log_events_survive_a_json_observer(self) -> None:
        """C{twistd --logger} JSON observers get plain values, nothing unpersistable."""
        call = FakeCall("j@h", x_headers={"X-Room-ID": "r"}, stats={"mos": float("nan")})
        self.observer.call_answered(call)
        call.end("shutdown")
        self.observer.call_ended(call)
        self.assertEqual(len(self.logged), 2)
        ended_keys = ("reason", "bye_reason", "duration_s", "packets_in", "stats")
        for event, keys in zip(self.logged, (IDENTITY_KEYS, IDENTITY_KEYS + ended_keys)):
            ours = {k: event[k] for k in keys}
            json.dumps(ours, allow_nan=False)
            back = eventFromJSON(eventAsJSON(event))
            self.assertEqual({k: back[k] for k in keys}, ours)
        self.assertIsNone(self.logged[1]["stats"]["mos"])

    def test_unknown_stats_still_logged(self) -> None:
        call = FakeCall("s@h")
        self.observer.call_answered(call)
        call.end("media_lost")
        self.observer.call_ended(call)
        self.assertEqual(
            formatEvent(self.logged[1]),
            "call s@h ended: media_lost after 0.0 s (RTP in None, out None, lost None)",
        )

    def test_webhook_events(self) -> None:
        call = FakeCall("w@h", session_id="sess", stats={"packets_in": 9})
        self.observer.call_answered(call)
        self.clock.advance(2.25)
        self.observer.dtmf_received(call, dtmf("#", 160.0, "info"))
        self.clock.advance(1)
        call.end("local_hangup")
        self.observer.call_ended(call)
        started, key, ended = self.events
        for event in self.events:
            self.assertEqual(len(event["id"]), 32)
            self.assertEqual(event["call"]["session_id"], "sess")
            self.assertEqual(event["call"]["call_id"], "w@h")
            json.dumps(event, allow_nan=False)
        self.assertEqual(len({e["id"] for e in self.events}), 3)
        self.assertEqual(started["event"], "call.started")
        self.assertEqual(started["timestamp"], "2023-11-14T22:13:20.000+00:00")
        self.assertEqual(set(started), {"event", "id", "timestamp", "call"})
        self.assertEqual(key["event"], "call.dtmf")
        self.assertEqual(
            (key["digit"], key["duration_ms"], key["source"], key["offset_ms"]),
            ("#", 160.0, "info", 2250),
        )
        self.assertEqual(ended["event"], "call.ended")
        self.assertEqual(
            (ended["reason"], ended["bye_reason"], ended["duration_s"], ended["stats"]),
            ("local_hangup", None, 3.25, {"packets_in": 9}),
        )

    def test_counts_for_metrics(self) -> None:
        calls = [
            FakeCall(stats={"packets_in": 100, "packets_out": 90, "lost": 2}) for _ in range(3)
        ]
        for call in calls:
            self.observer.call_answered(call)
        self.observer.dtmf_received(calls[0], dtmf("1"))
        self.observer.dtmf_received(calls[1], dtmf("2"))
        calls[0].set_stats({"packets_in": 150, "packets_out": 140, "lost": -1, "jitter_ms": 4.0})
        calls[0].end("remote_bye")
        self.observer.call_ended(calls[0])
        calls[1].set_stats({"packets_in": 10, "jitter_ms": 3.0})
        calls[2].set_stats({"packets_in": 20, "jitter_ms": 5})
        self.assertEqual(self.observer.answered, 3)
        self.assertEqual(self.observer.dtmf, 2)
        self.assertEqual(dict(self.observer.ended_by_reason), {"remote_bye": 1})
        self.assertEqual([live.call for live in self.observer.live_calls()], calls[1:])
        self.assertEqual(
            self.observer.rtp_totals(),
            {"packets_in": 180.0, "packets_out": 140.0, "lost": 0.0},
        )
        self.assertEqual(sorted(self.observer.live_jitter_ms()), [3.0, 5.0])

    def test_live_call_snapshot(self) -> None:
        call = FakeCall("snap@h", stats={"packets_in": 4})
        self.observer.call_answered(call)
        self.clock.advance(1.5)
        (live,) = self.observer.live_calls()
        snapshot = live.snapshot(self.clock.seconds())
        self.assertEqual(snapshot["started"], "2023-11-14T22:13:20.000+00:00")
        self.assertEqual(snapshot["duration_s"], 1.5)
        self.assertEqual(snapshot["stats"], {"packets_in": 4})
        self.assertEqual(snapshot["call_id"], "snap@h")

    def test_app_failure_after_bookkeeping(self) -> None:
        """The engine logs what the application raises; the observer has done its part."""
        self.app.fail_on = "call_ended"
        call = FakeCall()
        self.observer.call_answered(call)
        call.end("remote_bye")
        self.assertRaises(RuntimeError, self.observer.call_ended, call)
        self.assertEqual(self.observer.live_calls(), [])
        self.assertEqual(self.events[-1]["event"], "call.ended")

    def test_failing_event_sink_does_not_stop_the_call(self) -> None:
        def broken(event: dict) -> None:
            raise ValueError("sink")

        observer = CallObserver(self.app, self.clock, broken)
        call = FakeCall()
        observer.call_answered(call)
        self.assertEqual(self.app.seen, [("call_answered", call)])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_end_of_a_call_never_seen_answered(self) -> None:
        call = FakeCall("ghost")
        call.end("ack_timeout")
        self.observer.call_ended(call)
        self.assertEqual(self.events[0]["duration_s"], None)
        self.assertEqual(self.events[0]["call"]["call_id"], "ghost")
        self.assertEqual(dict(self.observer.ended_by_reason), {"ack_timeout": 1})

    def test_no_webhook(self) -> None:
        observer = CallObserver(self.app, self.clock)
        call = FakeCall()
        observer.call_answered(call)
        observer.dtmf_received(call, dtmf("1"))
        call.end()
        observer.call_ended(call)
        self.assertEqual(observer.answered, 1)
