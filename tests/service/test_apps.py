"""The echo and prompt applications, and how --app picks one."""

from __future__ import annotations

from twisted.internet.defer import fail
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.interfaces import ICallHandler
from roomkit_sip.service.apps import BUILTIN_APPS, build_app
from roomkit_sip.service.apps.echo import EchoApp
from roomkit_sip.service.apps.prompt import NORMAL_CLEARING, PromptApp
from roomkit_sip.service.apps.record import RecordApp
from roomkit_sip.service.audio_files import Prompt
from tests.service._fakes import FakeCall, dtmf, tone


def make_prompt() -> Prompt:
    """A prompt prepared at both telephone rates, each rate recognisable."""
    return Prompt("hello.wav", 8000, 0.5, {8000: b"\x08\x00" * 4000, 16000: b"\x10\x00" * 8000})


class EchoTests(SynchronousTestCase):
    def test_provides_call_handler(self) -> None:
        verifyObject(ICallHandler, EchoApp())

    def test_frames_sent_straight_back_in_order(self) -> None:
        app, call = EchoApp(), FakeCall()
        frames = [tone(8000, amplitude=a) for a in (100, 200, 300)]
        self.assertIsNone(app.incoming_call(object()))
        app.call_answered(call)
        for frame in frames:
            app.audio_received(call, frame)
        self.assertEqual(call.sent_now, frames)
        self.assertEqual(call.sent, [])
        self.assertNotIn("end_of_response", call.log)

    def test_dtmf_logged(self) -> None:
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        call = FakeCall(session_id="s-7")
        EchoApp().dtmf_received(call, dtmf("5", 90.0, "info"))
        self.assertEqual(len(events), 1)
        self.assertEqual(
            (events[0]["session_id"], events[0]["digit"], events[0]["source"]),
            ("s-7", "5", "info"),
        )


class PromptTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.app = PromptApp(make_prompt())

    def test_plays_at_the_call_rate_then_hangs_up(self) -> None:
        for codec, rate in (("PCMU", 8000), ("G722", 16000)):
            call = FakeCall(codec=codec)
            self.app.call_answered(call)
            self.assertEqual(call.sent, [make_prompt().pcm(rate)])
            self.assertEqual(call.log, ["send_audio", "end_of_response", "wait_playback"])
            self.assertEqual(call.hangups, [])
            call.playbacks[0].callback(True)
            self.assertEqual(call.hangups, [(NORMAL_CLEARING, "prompt played")])

    def test_hash_skips_the_prompt(self) -> None:
        call = FakeCall()
        self.app.call_answered(call)
        self.app.dtmf_received(call, dtmf("1"))
        self.assertEqual(call.hangups, [])
        self.app.dtmf_received(call, dtmf("#"))
        self.assertEqual(call.log[-2:], ["interrupt", "hangup"])
        self.assertEqual(call.hangups, [(NORMAL_CLEARING, "caller pressed #")])
        self.assertTrue(call.playbacks[0].called)  # interrupted: fired with False
        self.app.dtmf_received(call, dtmf("#"))
        self.assertEqual(len(call.hangups), 1)

    def test_caller_gone_first(self) -> None:
        call = FakeCall()
        self.app.call_answered(call)
        call.end("remote_bye")
        self.app.call_ended(call)
        call.playbacks[0].callback(False)
        self.assertEqual(call.hangups, [])

    def test_ended_call_not_hung_up(self) -> None:
        """The engine may report the end of playback before call_ended."""
        call = FakeCall()
        self.app.call_answered(call)
        call.state = "ended"
        call.playbacks[0].callback(False)
        self.assertEqual(call.hangups, [])

    def test_failures_logged(self) -> None:
        call = FakeCall()
        call.hangup_result = fail(RuntimeError("no transaction"))
        self.app.call_answered(call)
        call.playbacks[0].callback(True)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        other = FakeCall()
        self.app.call_answered(other)
        other.playbacks[0].errback(ValueError("pacer"))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class _Options(dict):
    """Parsed options as build_app reads them."""

    def __init__(self, app: str, **values: object) -> None:
        super().__init__(app=app, **{"record-dir": values.pop("record_dir", None)})
        self.prompt = values.pop("prompt", None)
        self.custom_handler = values.pop("custom_handler", None)


class BuildAppTests(SynchronousTestCase):
    def test_every_builtin(self) -> None:
        clock = Clock()
        built = {
            "echo": build_app(_Options("echo"), clock),
            "prompt": build_app(_Options("prompt", prompt=make_prompt()), clock),
            "record": build_app(_Options("record", record_dir=self.mktemp()), clock),
        }
        self.assertEqual(set(built), set(BUILTIN_APPS))
        self.assertIsInstance(built["echo"][0], EchoApp)
        self.assertIsInstance(built["prompt"][0], PromptApp)
        record, cleanups = built["record"]
        self.assertIsInstance(record, RecordApp)
        self.assertEqual(cleanups, [record.close])
        for handler, _ in built.values():
            verifyObject(ICallHandler, handler)

    def test_custom_handler_passed_through(self) -> None:
        handler = EchoApp()
        self.assertEqual(
            build_app(_Options("my.mod:make", custom_handler=handler), Clock()), (handler, [])
        )
