"""--app record: files valid during the call, finished at its end, bounded memory."""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.service.apps.record import TEMPORARY_FAILURE, RecordApp
from roomkit_sip.service.audio_files import Prompt
from tests.service._fakes import FakeCall, dtmf, tone

START = 1_700_000_000.0


def frames_on_disk(path: str) -> tuple[int, int]:
    """(sample rate, frame count) as a reader sees the file now."""
    with wave.open(path, "rb") as w:
        return w.getframerate(), w.getnframes()


class RecordAppTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.app = RecordApp(self.clock, self.dir)

    def files(self) -> list[str]:
        return sorted(os.listdir(self.dir))

    def sidecar(self, stem: str) -> dict:
        return json.loads(Path(self.dir, stem + ".json").read_text())

    def test_a_whole_call(self) -> None:
        call = FakeCall("77@pbx", codec="G722", x_headers={"X-Room-ID": "r1"})
        call.set_stats({"packets_in": 150, "packets_out": 0, "lost": 0, "jitter_ms": 1.5})
        self.app.call_answered(call)
        (meta, wav) = self.files()
        stem = wav[:-4]
        self.assertEqual(meta, stem + ".json")
        self.assertTrue(stem.startswith("77_pbx-"))
        self.assertEqual(self.sidecar(stem)["status"], "recording")
        frame = tone(16000)
        for n in range(1, 151):  # 3 s of caller audio, 20 ms apart
            self.app.audio_received(call, frame)
            self.clock.advance(0.02)
            if n == 75:
                self.app.dtmf_received(call, dtmf("7"))
        self.app.dtmf_received(call, dtmf("#", 200.0, "info"))
        call.end("remote_bye", {"cause": 16, "text": "Normal call clearing"})
        self.app.call_ended(call)
        self.assertEqual(frames_on_disk(os.path.join(self.dir, wav)), (16000, 150 * 320))
        with wave.open(os.path.join(self.dir, wav), "rb") as w:
            self.assertEqual(w.readframes(320), frame)
        end = self.sidecar(stem)
        self.assertEqual(end["status"], "complete")
        self.assertEqual((end["call_id"], end["room_id"], end["codec"]), ("77@pbx", "r1", "G722"))
        self.assertEqual(end["sample_rate"], 16000)
        self.assertEqual(end["x_headers"], {"X-Room-ID": "r1"})
        self.assertEqual(end["duration_s"], 3.0)
        self.assertEqual(end["audio_seconds"], 3.0)
        self.assertEqual(
            [(d["digit"], d["offset_ms"]) for d in end["dtmf"]], [("7", 1500), ("#", 3000)]
        )
        self.assertEqual(end["dtmf"][1]["source"], "info")
        self.assertEqual(
            end["hangup"],
            {"reason": "remote_bye", "bye_reason": {"cause": 16, "text": "Normal call clearing"}},
        )
        self.assertEqual(end["stats"]["packets_in"], 150)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_flushed_every_second_while_the_call_lasts(self) -> None:
        """What a kill -9 would leave: a valid WAV of all but the last second."""
        call = FakeCall("k@h")
        self.app.call_answered(call)
        wav = os.path.join(self.dir, [f for f in self.files() if f.endswith(".wav")][0])
        for second in range(1, 6):
            for _ in range(50):
                self.app.audio_received(call, tone(8000))
            self.assertEqual(frames_on_disk(wav)[1], (second - 1) * 8000)
            self.clock.advance(1.0)
            self.assertEqual(frames_on_disk(wav)[1], second * 8000)
        self.assertEqual(self.app.open_recordings, 1)
        self.assertEqual(self.sidecar(os.path.basename(wav)[:-4])["status"], "recording")

    def test_prompt_played_at_the_call_rate(self) -> None:
        prompt = Prompt("p.wav", 8000, 1.0, {8000: b"\x01\x00" * 8000, 16000: b"\x02\x00" * 16000})
        app = RecordApp(self.clock, self.dir, prompt=prompt)
        call = FakeCall(codec="G722")
        app.call_answered(call)
        self.assertEqual(call.sent, [b"\x02\x00" * 16000])
        self.assertEqual(call.log, ["send_audio", "end_of_response"])

    def test_same_call_id_twice_keeps_both(self) -> None:
        for _ in range(2):
            call = FakeCall("dup")
            self.app.call_answered(call)
            self.app.audio_received(call, tone(8000))
            call.end("remote_bye")
            self.app.call_ended(call)
        self.assertEqual(self.files(), ["dup-2.json", "dup-2.wav", "dup.json", "dup.wav"])

    def test_cannot_record_hangs_up(self) -> None:
        Path(self.dir).rmdir()
        Path(self.dir).write_text("a file where the directory was")
        call = FakeCall()
        self.app.call_answered(call)
        self.assertEqual(call.hangups, [(TEMPORARY_FAILURE, "recording unavailable")])
        self.app.audio_received(call, tone(8000))
        self.app.dtmf_received(call, dtmf("1"))
        self.app.call_ended(call)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close_finishes_what_is_open(self) -> None:
        calls = [FakeCall(f"c{n}") for n in range(3)]
        for call in calls:
            self.app.call_answered(call)
            self.app.audio_received(call, tone(8000))
        calls[0].end("remote_bye")
        self.app.call_ended(calls[0])
        self.clock.advance(0.5)
        self.app.close()
        self.assertEqual(self.app.open_recordings, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        for n in (1, 2):
            end = self.sidecar(f"c{n}")
            self.assertEqual(end["hangup"]["reason"], "service_stopped")
            self.assertEqual(end["status"], "complete")
            self.assertEqual(frames_on_disk(os.path.join(self.dir, f"c{n}.wav"))[1], 160)

    def test_flusher_restarts_for_the_next_call(self) -> None:
        for name in ("a", "b"):
            call = FakeCall(name)
            self.app.call_answered(call)
            self.assertEqual(len(self.clock.getDelayedCalls()), 1)
            self.app.audio_received(call, tone(8000))
            self.clock.advance(1.0)
            self.assertEqual(frames_on_disk(os.path.join(self.dir, f"{name}.wav"))[1], 160)
            call.end("local_hangup")
            self.app.call_ended(call)
            self.assertEqual(self.clock.getDelayedCalls(), [])
