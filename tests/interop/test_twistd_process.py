"""
C{twistd -n roomkit-sip} as an operator runs it: a child process started by
this interpreter with the command line of the call-engine issue, called by
the real SIPp over 127.0.0.1, and stopped by a signal sent to its PID.

What only a real process shows: the plugin is found by C{twistd} itself,
the default application answers with an echo, SIGTERM drains (a live call
gets BYE at C{--drain-timeout}, a new one 503) and the process exits 0, and
a recording survives C{kill -9} as a valid WAV.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.trial import unittest

from tests.interop import sipp
from tests.service._live import (
    PEAK_DBFS,
    TONE_DBFS,
    TONE_HZ,
    TwistdProcess,
    WavCheck,
    poll,
    rtp_ports,
)

READY = "roomkit-sip serving SIP on 127.0.0.1:"


class TwistdCase(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        sipp.require_sipp()
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)

    @defer.inlineCallbacks
    def start_twistd(self, *argv: str):
        """Start the child on a free SIP port; fires once it serves SIP."""
        self.sip_port = sipp.free_port()
        self.child = TwistdProcess(
            reactor,
            [
                "--sip-interface",
                "127.0.0.1",
                "--sip-port",
                str(self.sip_port),
                "--rtp-ip",
                "127.0.0.1",
                "--rtp-ports",
                rtp_ports(),
                *argv,
            ],
            cwd=self.directory,
        )
        self.addCleanup(self.child.terminate)
        yield self.child.wait_for_line(lambda line: READY in line, timeout=30)

    @property
    def remote(self) -> tuple[str, int]:
        return ("127.0.0.1", self.sip_port)

    @defer.inlineCallbacks
    def call_until_bye(self):
        """
        SIPp calls and plays 4 s of tone until the service's BYE; fires with
        the L{sipp.SippProcess} once the service logged the call's start.
        """
        sipp.require_raw_sockets()
        caller = sipp.start_sipp(
            reactor,
            "uac_service_wait_bye.xml",
            remote=self.remote,
            files=sipp.media_files(tone_hz=TONE_HZ, seconds=4.0, peak_dbfs=PEAK_DBFS),
        )
        self.addCleanup(caller.terminate)
        yield self.child.wait_for_line(lambda line: " started: " in line, timeout=15)
        return caller

    @defer.inlineCallbacks
    def sigterm_exits_zero(self):
        self.child.kill("TERM")
        code = yield self.child.wait_exit(timeout=20)
        self.assertEqual((code, self.child.signal), (0, None), self.child.output())
        self.assertTrue(any("roomkit-sip stopped" in line for line in self.child.lines))


class EchoTests(TwistdCase):
    @defer.inlineCallbacks
    def test_echo_then_sigterm(self):
        """
        The issue's command line answers a call with an echo: the caller
        hears its own tone (frequency and level); SIGTERM with no call
        live ends the process with status 0.
        """
        yield self.start_twistd()
        sipp.require_raw_sockets()
        sink = sipp.listen_rtp_sink(reactor)
        self.addCleanup(sink.stop)
        result = yield sipp.echo_call(reactor, self.remote, sink)
        result.assert_ok(calls=1)
        sipp.assert_echo(self, sink)
        call_id = result.sent("INVITE")[0].header("Call-ID")[0]
        yield self.child.wait_for_line(lambda line: f"call {call_id} ended: remote_bye" in line)
        yield self.sigterm_exits_zero()


class SignalTests(TwistdCase):
    @defer.inlineCallbacks
    def test_sigterm_drains_a_live_call(self):
        """
        SIGTERM mid-call: a new INVITE gets 503 + Retry-After, the live
        call gets BYE (Reason: service shutting down) at --drain-timeout,
        its recording is finalised, and the process exits 0.
        """
        yield self.start_twistd(
            "--app", "record", "--record-dir", self.directory, "--drain-timeout", "1.5"
        )
        caller = yield self.call_until_bye()
        self.child.kill("TERM")
        yield self.child.wait_for_line(lambda line: "draining" in line, timeout=10)

        refused = yield sipp.run_sipp(reactor, "uac_service_refused.xml", remote=self.remote)
        refused.assert_ok(calls=1)
        [busy] = refused.received(503)
        self.assertTrue(busy.header("Retry-After"))

        result = yield caller.done
        result.assert_ok(calls=1)
        [bye] = result.received("BYE")
        self.assertIn('text="service shutting down"', bye.header("Reason")[0])
        code = yield self.child.wait_exit(timeout=20)
        self.assertEqual((code, self.child.signal), (0, None), self.child.output())

        [sidecar_path] = Path(self.directory).glob("*.json")
        sidecar = json.loads(sidecar_path.read_text())
        self.assertEqual(sidecar["status"], "complete")
        self.assertEqual(sidecar["hangup"]["reason"], "shutdown")
        wav = WavCheck.read(sidecar_path.with_suffix(".wav"))
        self.assertEqual(wav.data_size, wav.frames * 2)
        self.assertEqual(wav.file_size, 44 + wav.data_size)

    @defer.inlineCallbacks
    def test_recording_survives_kill_9(self):
        """
        SIGKILL while a call is recorded: what was flushed is a valid WAV
        (header sizes count the audio on disk) holding the caller's tone,
        and the sidecar is whole JSON that still says "recording".
        """
        yield self.start_twistd("--app", "record", "--record-dir", self.directory)
        yield self.call_until_bye()

        def flushed_two_seconds() -> bool:
            wavs = list(Path(self.directory).glob("*.wav"))
            return bool(wavs) and WavCheck.read(wavs[0]).data_size >= 2 * 8000 * 2

        yield poll(reactor, flushed_two_seconds, timeout=10)
        self.child.kill("KILL")
        yield self.child.wait_exit(timeout=10)
        self.assertIsNotNone(self.child.signal)

        [sidecar_path] = Path(self.directory).glob("*.json")
        sidecar = json.loads(sidecar_path.read_text())
        self.assertEqual(sidecar["status"], "recording")
        wav = WavCheck.read(sidecar_path.with_suffix(".wav"))
        self.assertEqual(wav.rate, 8000)
        self.assertEqual(wav.riff_size, 36 + wav.data_size)
        self.assertGreaterEqual(wav.file_size, 44 + wav.data_size)
        start, end = wav.loud_run()
        self.assertGreater(end - start, 1.5)
        analysis = wav.tone(
            TONE_HZ, start + 0.1, end - 0.1, min_dbfs=TONE_DBFS - 1.5, max_dbfs=TONE_DBFS + 1.5
        )
        self.assertEqual(analysis.problems, [], analysis)
