"""
C{twistd roomkit-sip} against the real SIPp: the service object the plugin
builds (C{getPlugins(IServiceMaker)}, its C{options()} and C{makeService}),
started in the test's reactor on 127.0.0.1, with the real engine.

One test per behaviour the operator guide promises: each application on a
real call (echo, record in PCMU and G.722, prompt, a custom handler), the
webhook through a receiver that fails then recovers, C{/metrics},
C{/calls} and C{/healthz} after real calls, digest authentication from an
htdigest file, and a drain with a recorded call in progress.  Calls are
short (about a second of audio) and drains too, so the module runs in
about 25 seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import Site

from roomkit_sip.codecs.g722 import G722
from roomkit_sip.service.state import DRAINING, STOPPED
from tests.interop import sipp
from tests.service._handlers import DigitMirror
from tests.service._live import (
    PEAK_DBFS,
    TONE_DBFS,
    TONE_HZ,
    LogWatcher,
    WavCheck,
    assert_tone_recorded,
    call_event,
    http_get,
    make_service,
    metric_samples,
    rtp_ports,
    tone_wav,
)
from tests.support import audio, pcap


def call_id_of(result: sipp.SippResult) -> str:
    """The Call-ID of the (first) INVITE SIPp sent."""
    return result.sent("INVITE")[0].header("Call-ID")[0]


#: RTP packets of one key press in L{record_files}: 100 ms in 20 ms updates,
#: the last one sent three times.
KEY_PACKETS = 7


def record_files(*, seconds: float, codec: str = "PCMU") -> dict[str, bytes]:
    """
    What C{uac_service_record.xml} plays: the tone in C{codec} (20 ms
    packets from sequence number 1000), then "1" and "#" as RFC 4733 events
    on the tone's SSRC whose sequence numbers follow the tone's without a
    gap, so that a receiver counts nothing lost.
    """
    count = round(seconds * 50)
    if codec == "G722":
        pcm = audio.tone(TONE_HZ, seconds, rate=16000, peak_dbfs=PEAK_DBFS)
        encode, payload_type, frame_bytes = G722.new_encoder().encode, 9, 640
    else:
        pcm = audio.tone(TONE_HZ, seconds, rate=8000, peak_dbfs=PEAK_DBFS)
        encode, payload_type, frame_bytes = audio.ulaw_encode, 0, 320
    files = {
        "caller_audio.pcap": pcap.pcap_bytes(
            pcap.tone_packets(
                pcm, encode=encode, payload_type=payload_type, frame_bytes=frame_bytes
            )
        )
    }
    for n, (digit, name) in enumerate((("1", "1"), ("#", "pound"))):
        seq = 1000 + count + n * KEY_PACKETS
        packets = pcap.dtmf_packets(digit, seq=seq, timestamp=160_000 + (count + n * 25) * 160)
        assert len(packets) == KEY_PACKETS
        files[f"dtmf_{name}.pcap"] = pcap.pcap_bytes(packets)
    return files


RECORD_KEYS = {"PCMU": {"pt": 0, "codec": "PCMU/8000"}, "G722": {"pt": 9, "codec": "G722/8000"}}


class ServiceInteropCase(unittest.TestCase):
    """Starts the service on 127.0.0.1 and stops it (drained) after the test."""

    timeout = 60

    def setUp(self) -> None:
        sipp.require_sipp()
        # Attached before the service starts, so its log filter applies here
        # as it does to twistd's own observer.
        self.logs = LogWatcher().attach(self)
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)

    def start_service(self, *argv: str) -> Any:
        self.rtp_ports = rtp_ports()
        service = make_service(
            "--sip-interface=127.0.0.1",
            "--sip-port=0",
            "--rtp-ip=127.0.0.1",
            f"--rtp-ports={self.rtp_ports}",
            "--drain-timeout=1",
            *argv,
        )
        service.privilegedStartService()
        service.startService()
        self.service = service
        self._stopping: defer.Deferred[None] | None = None
        self.addCleanup(self.stop_service)
        return service

    def stop_service(self) -> defer.Deferred[None]:
        """Stop (drain) the service; every call returns the same outcome."""
        if self._stopping is None:
            self._stopping = self.service.stopService()
        done: defer.Deferred[None] = defer.Deferred()
        self._stopping.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    @property
    def engine(self) -> Any:
        return self.service.engine_service.engine

    @property
    def app(self) -> Any:
        return self.engine.handler.app

    @property
    def remote(self) -> tuple[str, int]:
        return self.engine.local_sip_addr

    def media(self) -> Any:
        sipp.require_raw_sockets()
        sink = sipp.listen_rtp_sink(reactor)
        self.addCleanup(sink.stop)
        return sink

    def http_port_option(self) -> str:
        self.http_port = sipp.free_port(tcp=True)
        return f"--http-port=127.0.0.1:{self.http_port}"

    def get(self, path: str) -> defer.Deferred[Any]:
        return http_get(reactor, f"http://127.0.0.1:{self.http_port}{path}")

    def keyed_call(
        self, sink: Any, *, seconds: float, pause_ms: int, codec: str = "PCMU"
    ) -> defer.Deferred[sipp.SippResult]:
        """
        One C{uac_service_record.xml} call: C{seconds} of tone in C{codec},
        then the keys "1" and "#", heard back by C{sink}.
        """
        return sipp.run_sipp(
            reactor,
            "uac_service_record.xml",
            remote=self.remote,
            rtp_sink=sink,
            keys=RECORD_KEYS[codec],
            files=record_files(seconds=seconds, codec=codec),
            pause_ms=pause_ms,
        )

    def recording(self) -> tuple[WavCheck, dict[str, Any], str]:
        """The one recording in the record directory: WAV, sidecar, file stem."""
        names = sorted(os.listdir(self.directory))
        stems = {os.path.splitext(n)[0] for n in names}
        self.assertEqual(len(stems), 1, names)
        [stem] = stems
        self.assertEqual(names, [f"{stem}.json", f"{stem}.wav"])
        sidecar = json.loads(Path(self.directory, f"{stem}.json").read_text())
        return WavCheck.read(Path(self.directory, f"{stem}.wav")), sidecar, stem

    def assert_valid_wav(self, wav: WavCheck, rate: int) -> None:
        """A complete file: the header's sizes count exactly the audio there."""
        self.assertEqual(wav.rate, rate)
        self.assertEqual(wav.data_size, wav.frames * 2)
        self.assertEqual(wav.riff_size, 36 + wav.data_size)
        self.assertEqual(wav.file_size, 44 + wav.data_size)


class EchoAppTests(ServiceInteropCase):
    @defer.inlineCallbacks
    def test_echo_and_one_log_line_per_call_start_and_end(self):
        """
        The default application echoes the caller's tone (frequency and
        level), and the log says one line when the call starts and one when
        it ends, with the essentials; the engine's and the RTP sockets' own
        per-call lines are not in it.
        """
        self.start_service()
        sink = self.media()
        result = yield sipp.echo_call(reactor, self.remote, sink)
        result.assert_ok(calls=1)
        sipp.assert_echo(self, sink)

        call_id = call_id_of(result)
        lines = [t for t in self.logs.texts() if call_id in t]
        caller = f"sip:caller@127.0.0.1:{result.address[1]}"
        callee = f"sip:service@127.0.0.1:{self.remote[1]}"
        self.assertEqual(len(lines), 2, lines)
        self.assertEqual(lines[0], f"call {call_id} started: {caller} -> {callee}, PCMU 8000 Hz")
        self.assertRegex(
            lines[1],
            rf"^call {call_id} ended: remote_bye after 1\.\d+ s "
            r"\(RTP in 5\d, out [45]\d, lost 0\)$",
        )
        ended = [e for e in self.logs.events if call_event("ended")(e)][0]
        self.assertEqual(
            (ended["call_id"], ended["caller"], ended["callee"]), (call_id, caller, callee)
        )
        self.assertEqual(ended["stats"]["packets_in"], 50)
        first, last = map(int, self.rtp_ports.split("-"))
        for text in self.logs.texts():
            self.assertNotRegex(text, r"RTC?PProtocol starting on")
            if text.startswith("(UDP Port "):
                self.assertFalse(first <= int(text.split()[2]) <= last, text)


class RecordAppTests(ServiceInteropCase):
    @defer.inlineCallbacks
    def record_call(self, codec: str, *argv: str):
        self.start_service("--app=record", f"--record-dir={self.directory}", *argv)
        sink = self.media()
        result = yield self.keyed_call(sink, seconds=1.0, pause_ms=1200, codec=codec)
        result.assert_ok(calls=1)
        return result

    def assert_sidecar(
        self, sidecar: dict[str, Any], result: sipp.SippResult, codec: str, rate: int, stem: str
    ) -> None:
        call_id = call_id_of(result)
        self.assertEqual(sidecar["call_id"], call_id)
        self.assertEqual(sidecar["session_id"], call_id)
        self.assertEqual(sidecar["wav"], f"{stem}.wav")
        self.assertEqual(sidecar["caller"], f"sip:caller@127.0.0.1:{result.address[1]}")
        self.assertEqual(sidecar["callee"], f"sip:service@127.0.0.1:{self.remote[1]}")
        self.assertEqual(sidecar["caller_display_name"], "SIPp caller")
        self.assertEqual(sidecar["room_id"], "room-42")
        self.assertEqual(sidecar["x_headers"], {"X-Room-ID": "room-42", "X-Customer": "acme"})
        self.assertEqual((sidecar["codec"], sidecar["sample_rate"]), (codec, rate))
        started = datetime.fromisoformat(sidecar["started_at"])
        ended = datetime.fromisoformat(sidecar["ended_at"])
        # Times to the millisecond, duration rounded apart from them.
        self.assertLessEqual(abs((ended - started).total_seconds() - sidecar["duration_s"]), 0.002)
        self.assertTrue(1.7 < sidecar["duration_s"] < 3.0, sidecar["duration_s"])
        self.assertEqual(sidecar["hangup"], {
            "reason": "remote_bye",
            "bye_reason": {"cause": 16, "text": "Normal call clearing"},
        })  # fmt: skip
        self.assertEqual([(d["digit"], d["source"]) for d in sidecar["dtmf"]],
                         [("1", "rfc4733"), ("#", "rfc4733")])  # fmt: skip
        first, second = (d["offset_ms"] for d in sidecar["dtmf"])
        # "1" is played 1.2 s after the ACK, "#" 300 ms after it.
        self.assertTrue(1150 <= first <= 1800, first)
        self.assertTrue(200 <= second - first <= 450, (first, second))
        self.assertTrue(all(d["duration_ms"] > 0 for d in sidecar["dtmf"]))
        self.assertEqual(sidecar["dtmf_dropped"], 0)
        stats = sidecar["stats"]
        self.assertEqual(stats["packets_in"], 50 + 2 * KEY_PACKETS)
        self.assertEqual(stats["lost"], 0)
        self.assertEqual(stats["codec"], codec)
        self.assertEqual((sidecar["status"], sidecar["error"]), ("complete", None))

    @defer.inlineCallbacks
    def test_pcmu(self):
        """
        A PCMU call: C{<call-id>.wav} at 8 kHz holds the caller's tone
        (frequency, level, length), and the sidecar says who called whom with
        which X-headers and codec, when, which keys were pressed when, why
        it ended and with which statistics.
        """
        result = yield self.record_call("PCMU")
        wav, sidecar, stem = self.recording()
        self.assert_valid_wav(wav, 8000)
        assert_tone_recorded(self, wav, TONE_HZ, 1.0)
        self.assertEqual(sidecar["audio_seconds"], round(wav.seconds, 3))
        self.assert_sidecar(sidecar, result, "PCMU", 8000, stem)
        self.assertEqual(self.app.open_recordings, 0)

    @defer.inlineCallbacks
    def test_g722(self):
        """A G.722 call is recorded at 16 kHz: the tone is there at that rate."""
        result = yield self.record_call("G722", "--codecs=g722,pcmu")
        wav, sidecar, stem = self.recording()
        self.assert_valid_wav(wav, 16000)
        assert_tone_recorded(self, wav, TONE_HZ, 1.0)
        self.assert_sidecar(sidecar, result, "G722", 16000, stem)


class PromptAppTests(ServiceInteropCase):
    PROMPT_HZ = 600.0

    def prompt(self, seconds: float) -> str:
        # 22.05 kHz stereo: mixed down and resampled to the call's 8 kHz.
        path = os.path.join(self.directory, "prompt.wav")
        return tone_wav(path, self.PROMPT_HZ, seconds, rate=22050, channels=2)

    def assert_heard_prompt(self, sink: Any, seconds: float) -> None:
        frames = [f for f in sink.decoded_frames(0, audio.ulaw_decode) if f is not None]
        middle = b"".join(frames[3:-3])
        analysis = audio.analyse_tone(
            middle,
            expected_hz=self.PROMPT_HZ,
            min_dbfs=TONE_DBFS - 1.0,
            max_dbfs=TONE_DBFS + 1.0,
            min_purity=0.98,
            min_seconds=seconds,
        )
        self.assertEqual(analysis.problems, [], analysis)

    @defer.inlineCallbacks
    def test_prompt_then_bye(self):
        """
        The caller hears the prompt to its end, then gets our BYE with
        C{Reason: Q.850;cause=16}.
        """
        self.start_service("--app=prompt", f"--prompt={self.prompt(0.8)}")
        sink = self.media()
        result = yield sipp.run_sipp(
            reactor,
            "uac_service_wait_bye.xml",
            remote=self.remote,
            rtp_sink=sink,
            files=sipp.media_files(seconds=0.3),
        )
        result.assert_ok(calls=1)
        [bye] = result.received("BYE")
        self.assertEqual(bye.header("Reason"), ['Q.850;cause=16;text="prompt played"'])
        arrivals = sink.stream(0)
        self.assertEqual(len(arrivals), 40)
        self.assert_heard_prompt(sink, 0.65)
        # BYE once the last frame went out, not before.  SIPp and the sink are
        # two receivers timing on their own: allow them 20 ms of disagreement.
        gap = bye.time - arrivals[-1].time
        self.assertTrue(-0.02 <= gap < 0.3, gap)

    @defer.inlineCallbacks
    def test_hash_ends_the_prompt(self):
        """C{#} ends a long prompt at once: BYE a moment after the key press."""
        self.start_service("--app=prompt", f"--prompt={self.prompt(5.0)}")
        sink = self.media()
        result = yield sipp.run_sipp(
            reactor,
            "uac_service_skip.xml",
            remote=self.remote,
            rtp_sink=sink,
            files=sipp.media_files(bundled_dtmf=False),
            pause_ms=600,
        )
        result.assert_ok(calls=1)
        [bye] = result.received("BYE")
        self.assertEqual(bye.header("Reason"), ['Q.850;cause=16;text="caller pressed #"'])
        [ack] = result.sent("ACK")
        self.assertTrue(0.6 < bye.time - ack.time < 1.2, bye.time - ack.time)
        self.assertLess(len(sink.stream(0)), 60)
        self.assert_heard_prompt(sink, 0.4)


class CustomAppTests(ServiceInteropCase):
    @defer.inlineCallbacks
    def test_module_factory(self):
        """
        C{--app module.path:factory}: the operator's own handler gets the
        call (here it mirrors each key press with RFC 4733 events of its
        own), and the service still logs it.
        """
        self.start_service("--app=tests.service._handlers:make_digit_mirror")
        handler = self.app
        self.assertIsInstance(handler, DigitMirror)
        self.assertEqual(handler.options["app"], "tests.service._handlers:make_digit_mirror")
        sink = self.media()
        result = yield self.keyed_call(sink, seconds=0.4, pause_ms=500)
        result.assert_ok(calls=1)
        self.assertEqual(handler.mirrored, [("1", True), ("#", True)])
        self.assertEqual([(p.digit, p.ended) for p in sink.key_presses()],
                         [("1", True), ("#", True)])  # fmt: skip
        [call] = handler.answered
        self.assertEqual(handler.ended, [call])
        self.assertEqual(call.metadata["disconnect_reason"], "remote_bye")
        call_id = call_id_of(result)
        self.assertEqual(len([t for t in self.logs.texts() if f"call {call_id} " in t]), 2)


class _Receiver(Resource):
    """A webhook receiver: answers from a script of statuses, then 200."""

    isLeaf = True

    def __init__(self, failures: list[int]) -> None:
        super().__init__()
        self.failures = list(failures)
        self.requests: list[tuple[int, str, dict[str, Any]]] = []
        self.ended: defer.Deferred[None] = defer.Deferred()

    def render_POST(self, request: Any) -> bytes:
        status = self.failures.pop(0) if self.failures else 200
        attempt = request.getHeader("X-Roomkit-Delivery-Attempt") or ""
        event = json.loads(request.content.read())
        self.requests.append((status, attempt, event))
        request.setResponseCode(status)
        if status == 200 and event["event"] == "call.ended" and not self.ended.called:
            reactor.callLater(0, self.ended.callback, None)
        return b"{}"


class WebhookTests(ServiceInteropCase):
    @defer.inlineCallbacks
    def test_receiver_fails_then_recovers(self):
        """
        The receiver answers 500, then 503, then accepts: the first event is
        retried (after 1 s, then 2 s) and every event arrives, in order:
        call.started, call.dtmf for "1" and "#" with their offsets, and
        call.ended with the reason and the call's statistics.
        """
        receiver = _Receiver([500, 503])
        port = reactor.listenTCP(0, Site(receiver), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/hooks/sip"
        self.start_service(f"--webhook={url}")
        sink = self.media()
        result = yield self.keyed_call(sink, seconds=0.4, pause_ms=500)
        result.assert_ok(calls=1)
        yield receiver.ended.addTimeout(15, reactor)

        call_id = call_id_of(result)
        statuses = [(status, attempt, e["event"]) for status, attempt, e in receiver.requests]
        self.assertEqual(statuses, [
            (500, "1", "call.started"),
            (503, "2", "call.started"),
            (200, "3", "call.started"),
            (200, "1", "call.dtmf"),
            (200, "1", "call.dtmf"),
            (200, "1", "call.ended"),
        ])  # fmt: skip
        events = [e for status, _, e in receiver.requests if status == 200]
        self.assertEqual(len({e["id"] for e in events}), 4)
        for event in events:
            self.assertEqual(event["call"]["call_id"], call_id)
            self.assertEqual(event["call"]["room_id"], "room-42")
            self.assertEqual(event["call"]["x_headers"]["X-Customer"], "acme")
            self.assertEqual(event["call"]["codec"], "PCMU")
            datetime.fromisoformat(event["timestamp"])
        started, one, pound, ended = events
        self.assertEqual((one["digit"], pound["digit"]), ("1", "#"))
        self.assertEqual(one["source"], "rfc4733")
        self.assertTrue(400 < one["offset_ms"] < pound["offset_ms"], (one, pound))
        self.assertEqual(ended["reason"], "remote_bye")
        self.assertEqual(ended["bye_reason"], {"cause": 16, "text": "Normal call clearing"})
        self.assertTrue(1.0 < ended["duration_s"] < 2.5, ended["duration_s"])
        self.assertEqual(ended["stats"]["packets_in"], 20 + 2 * KEY_PACKETS)
        self.assertEqual(ended["stats"]["lost"], 0)
        self.assertGreaterEqual(ended["stats"]["packets_out"], 15)
        yield self.stop_service()
        poster = self.service.webhooks
        self.assertEqual((poster.delivered, poster.retries, poster.dropped), (4, 2, 0))


class MetricsTests(ServiceInteropCase):
    @defer.inlineCallbacks
    def test_metrics_calls_and_healthz_after_real_calls(self):
        """
        C{/calls} lists the live call; after it and a call refused with 488
        (no common codec), C{/metrics} counts both, with the RTP packets and
        key presses of the first; C{/healthz} says ok.
        """
        self.start_service(self.http_port_option())
        health = yield self.get("/healthz")
        self.assertEqual((health.code, health.body), (200, b"ok\n"))
        sink = self.media()
        files = record_files(seconds=1.0)
        caller = sipp.start_sipp(
            reactor,
            "uac_service_record.xml",
            remote=self.remote,
            rtp_sink=sink,
            keys=RECORD_KEYS["PCMU"],
            files=files,
            pause_ms=1100,
        )
        self.addCleanup(caller.terminate)
        yield sink.wait_for(10).addTimeout(10, reactor)  # the echo: the call is up
        live = yield self.get("/calls")
        self.assertEqual(live.code, 200)
        self.assertEqual(live.headers.getRawHeaders("Content-Type"), ["application/json"])
        [call] = live.json()
        self.assertEqual(call["room_id"], "room-42")
        self.assertEqual(call["x_headers"], {"X-Room-ID": "room-42", "X-Customer": "acme"})
        self.assertEqual((call["codec"], call["sample_rate"]), ("PCMU", 8000))
        self.assertGreater(call["stats"]["packets_in"], 0)
        self.assertTrue(0 < call["duration_s"] < 1.5, call["duration_s"])
        result = yield caller.done
        result.assert_ok(calls=1)
        self.assertEqual(call["call_id"], call_id_of(result))
        refused = yield sipp.run_sipp(reactor, "uac_unsupported_codec.xml", remote=self.remote)
        refused.assert_ok(calls=1)

        scrape = yield self.get("/metrics")
        self.assertEqual(scrape.code, 200)
        [content_type] = scrape.headers.getRawHeaders("Content-Type")
        self.assertTrue(content_type.startswith("text/plain; version=0.0.4"), content_type)
        values = metric_samples(scrape.body.decode())
        sent = 0  # every RTP packet SIPp played: the tone and both key presses
        for name, data in files.items():
            path = Path(self.directory, name)
            path.write_bytes(data)
            sent += len(pcap.read_pcap(path))
        echoed = len(sink.stream(0))

        def value(name: str, **labels: str) -> float:
            return values[name, tuple(sorted(labels.items()))]

        self.assertEqual(value("roomkit_sip_calls_total"), 1)
        self.assertEqual(value("roomkit_sip_calls_active"), 0)
        self.assertEqual(value("roomkit_sip_calls_ended_total", reason="remote_bye"), 1)
        self.assertEqual(value("roomkit_sip_calls_rejected_total", status="488"), 1)
        self.assertEqual(value("roomkit_sip_rtp_packets_received_total"), sent)
        self.assertEqual(value("roomkit_sip_rtp_packets_sent_total"), echoed)
        self.assertEqual(value("roomkit_sip_rtp_packets_lost_total"), 0)
        self.assertEqual(value("roomkit_sip_dtmf_total"), 2)
        self.assertEqual(value("roomkit_sip_auth_failures_total"), 0)
        self.assertEqual(value("roomkit_sip_draining"), 0)
        self.assertEqual(value("roomkit_sip_rtp_jitter_max_seconds"), 0)  # no live call
        self.assertEqual(self.engine.stats()["rejected"], {488: 1})


class AuthTests(ServiceInteropCase):
    @defer.inlineCallbacks
    def test_htdigest_file(self):
        """
        C{--auth-file} (an Apache htdigest file: MD5 HA1s) and C{--realm}:
        SIPp's digest answer gets the call through; a wrong password gets
        403; C{/metrics} counts the failure and the challenges.
        """
        users = Path(self.directory, "users.htdigest")
        ha1 = hashlib.md5(b"alice:roomkit-test:s3cret").hexdigest()
        users.write_text(f"alice:roomkit-test:{ha1}\n")
        self.start_service(f"--auth-file={users}", "--realm=roomkit-test", self.http_port_option())
        result = yield sipp.run_sipp(
            reactor, "uac_auth.xml", remote=self.remote, auth=("alice", "s3cret")
        )
        result.assert_ok(calls=1)
        [challenge] = result.received(401)
        self.assertEqual(len(challenge.header("WWW-Authenticate")), 1)
        self.assertIn("algorithm=MD5", challenge.header("WWW-Authenticate")[0])
        wrong = yield sipp.run_sipp(
            reactor, "uac_auth_wrong_password.xml", remote=self.remote, auth=("alice", "nope")
        )
        wrong.assert_ok(calls=1)
        self.assertEqual(len(wrong.received(403)), 1)

        scrape = yield self.get("/metrics")
        values = metric_samples(scrape.body.decode())
        self.assertEqual(values["roomkit_sip_auth_failures_total", ()], 1)
        self.assertEqual(values["roomkit_sip_calls_total", ()], 1)
        self.assertEqual(values["roomkit_sip_calls_rejected_total", (("status", "401"),)], 2)
        self.assertEqual(values["roomkit_sip_calls_rejected_total", (("status", "403"),)], 1)


class DrainTests(ServiceInteropCase):
    @defer.inlineCallbacks
    def test_stop_with_a_recorded_call_in_progress(self):
        """
        stopService mid-call: /healthz and /metrics show the drain, a new
        INVITE gets 503 + Retry-After, the live call goes on (and is still
        recorded) until --drain-timeout, then gets BYE; the recording is
        finalised with reason "shutdown".
        """
        self.start_service(
            "--app=record",
            f"--record-dir={self.directory}",
            "--drain-timeout=1.5",
            self.http_port_option(),
        )
        sipp.require_raw_sockets()
        caller = sipp.start_sipp(
            reactor,
            "uac_service_wait_bye.xml",
            remote=self.remote,
            files=sipp.media_files(tone_hz=TONE_HZ, seconds=3.0, peak_dbfs=PEAK_DBFS),
        )
        self.addCleanup(caller.terminate)
        yield self.logs.wait_for(call_event("started"), reactor)
        stopped_at = reactor.seconds()
        stopping = self.stop_service()
        self.assertEqual(self.service.state.phase, DRAINING)

        health = yield self.get("/healthz")
        self.assertEqual((health.code, health.body), (503, b"draining\n"))
        values = metric_samples((yield self.get("/metrics")).body.decode())
        self.assertEqual(values["roomkit_sip_draining", ()], 1)
        self.assertEqual(values["roomkit_sip_calls_active", ()], 1)
        refused = yield sipp.run_sipp(reactor, "uac_service_refused.xml", remote=self.remote)
        refused.assert_ok(calls=1)
        [busy] = refused.received(503)
        self.assertEqual(busy.header("Retry-After"), ["5"])

        result = yield caller.done
        result.assert_ok(calls=1)
        [bye] = result.received("BYE")
        self.assertIn('text="service shutting down"', bye.header("Reason")[0])
        self.assertTrue(1.4 < bye.time - stopped_at < 2.2, bye.time - stopped_at)
        yield stopping
        self.assertEqual(self.service.state.phase, STOPPED)
        self.assertEqual(self.engine.stats()["rejected"], {503: 1})

        wav, sidecar, _ = self.recording()
        self.assert_valid_wav(wav, 8000)
        start, end = wav.loud_run()
        self.assertGreater(end - start, 1.4)  # recorded through the drain
        analysis = wav.tone(
            TONE_HZ, start + 0.1, end - 0.1, min_dbfs=TONE_DBFS - 1.5, max_dbfs=TONE_DBFS + 1.5
        )
        self.assertEqual(analysis.problems, [], analysis)
        self.assertEqual(sidecar["hangup"], {"reason": "shutdown", "bye_reason": None})
        self.assertEqual(sidecar["status"], "complete")
        self.assertIsNotNone(sidecar["ended_at"])
        self.assertEqual(sidecar["call_id"], call_id_of(result))
