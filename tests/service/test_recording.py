"""Recording files: safe names, a WAV valid at every flush, atomic sidecars."""

from __future__ import annotations

import json
import os
import re
import wave
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.service import recording
from roomkit_sip.service.recording import (
    MAX_STEM,
    CallRecording,
    WavWriter,
    create_exclusive,
    safe_stem,
    wav_header,
    write_json_atomic,
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


def read_wav(path: str) -> tuple[int, bytes]:
    with wave.open(path, "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), w.readframes(w.getnframes())


class SafeStemTests(SynchronousTestCase):
    def test_plain_call_id_kept(self) -> None:
        self.assertEqual(safe_stem("a84b4c76e66710"), "a84b4c76e66710")
        self.assertEqual(safe_stem("1-2345_x.y"), "1-2345_x.y")

    def test_unsafe_characters_replaced_and_hashed(self) -> None:
        stem = safe_stem("3848276298220188511@atlanta.example.com")
        self.assertRegex(stem, r"^3848276298220188511_atlanta\.example\.com-[0-9a-f]{12}$")

    def test_ids_cleaned_alike_get_different_names(self) -> None:
        self.assertNotEqual(safe_stem("a@b"), safe_stem("a#b"))
        self.assertNotEqual(safe_stem("a@b"), safe_stem("a_b"))

    def test_no_path_no_hidden_file(self) -> None:
        for call_id in ("../../etc/passwd", "..", ".hidden", "/", "", "a/b\\c", "\x00"):
            stem = safe_stem(call_id)
            self.assertRegex(stem, _SAFE_NAME)
            self.assertNotIn("/", stem)

    def test_long_ids_truncated(self) -> None:
        self.assertLessEqual(len(safe_stem("x" * 1000)), MAX_STEM + 13)

    @settings(max_examples=200)
    @given(st.text(), st.text())
    def test_always_a_safe_distinct_name(self, a: str, b: str) -> None:
        self.assertRegex(safe_stem(a), _SAFE_NAME)
        self.assertLessEqual(len(safe_stem(a)), MAX_STEM + 13)
        if a != b:
            self.assertNotEqual(safe_stem(a), safe_stem(b))


class FilesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def test_exclusive_names_never_overwrite(self) -> None:
        first, f1 = create_exclusive(self.dir, "call")
        second, f2 = create_exclusive(self.dir, "call")
        Path(self.dir, "call-3.json").write_text("{}")  # an orphan sidecar
        third, f3 = create_exclusive(self.dir, "call")
        for f in (f1, f2, f3):
            f.close()
        self.assertEqual(
            [os.path.basename(p) for p in (first, second, third)], ["call", "call-2", "call-4"]
        )

    def test_exclusive_gives_up(self) -> None:
        create_exclusive(self.dir, "x", attempts=1)[1].close()
        self.assertRaises(OSError, create_exclusive, self.dir, "x", attempts=1)

    def test_json_replaced_whole_and_no_temp_left(self) -> None:
        path = os.path.join(self.dir, "a.json")
        write_json_atomic(path, {"v": 1})
        write_json_atomic(path, {"v": 2, "é": "ü"})
        self.assertEqual(json.loads(Path(path).read_text(encoding="utf-8")), {"v": 2, "é": "ü"})
        self.assertEqual(os.listdir(self.dir), ["a.json"])

    def test_failed_json_write_keeps_the_old_file(self) -> None:
        path = os.path.join(self.dir, "a.json")
        write_json_atomic(path, {"v": 1})
        self.assertRaises(TypeError, write_json_atomic, path, {"v": object()})
        self.assertEqual(json.loads(Path(path).read_text()), {"v": 1})
        self.assertEqual(os.listdir(self.dir), ["a.json"])


class WavWriterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(self.mktemp() + ".wav")

    def open_writer(self, rate: int = 8000, max_buffer: int = 16000) -> WavWriter:
        return WavWriter(open(self.path, "xb", buffering=0), rate, max_buffer)

    def test_empty_file_is_a_valid_wav(self) -> None:
        writer = self.open_writer()
        self.assertEqual(read_wav(self.path), (8000, b""))
        writer.close()
        self.assertEqual(Path(self.path).read_bytes(), wav_header(8000, 0))

    def test_buffered_until_flush_then_counted(self) -> None:
        writer = self.open_writer(16000)
        writer.write(b"\x01\x02" * 160)
        self.assertEqual(read_wav(self.path), (16000, b""))
        writer.flush()
        self.assertEqual(read_wav(self.path), (16000, b"\x01\x02" * 160))
        self.assertEqual(writer.committed, 320)
        writer.close()

    def test_full_buffer_flushes_at_once(self) -> None:
        writer = self.open_writer(max_buffer=640)
        writer.write(b"\x00\x01" * 160)
        self.assertEqual(writer.committed, 0)
        writer.write(b"\x00\x01" * 160)
        self.assertEqual(writer.committed, 640)
        writer.close()

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 400), st.booleans()), max_size=20))
    def test_valid_after_every_flush(self, steps) -> None:
        """A reader (or a crash) at any flush sees exactly the audio flushed."""
        if os.path.exists(self.path):
            os.unlink(self.path)
        writer = self.open_writer(max_buffer=10**6)
        expected = b""
        pending = b""
        for n, flush in steps:
            chunk = bytes([n % 256, n // 256]) * n
            writer.write(chunk)
            pending += chunk
            if flush:
                writer.flush()
                expected, pending = expected + pending, b""
                self.assertEqual(read_wav(self.path)[1], expected)
        writer.close()
        self.assertEqual(read_wav(self.path)[1], expected + pending)

    def test_size_limit_truncates(self) -> None:
        """The 32-bit RIFF sizes bound a WAV to 4 GiB: later audio is dropped."""
        self.patch(recording, "MAX_DATA_BYTES", 100)
        writer = self.open_writer()
        writer.write(b"\x01" * 90)
        writer.write(b"\x02" * 40)
        writer.write(b"\x03" * 2)
        writer.close()
        self.assertTrue(writer.truncated)
        self.assertEqual(read_wav(self.path)[1], b"\x01" * 90 + b"\x02" * 10)


class CallRecordingTests(SynchronousTestCase):
    INFO = {
        "session_id": "s",
        "call_id": "abc@host",
        "room_id": "r",
        "caller": "sip:a@x",
        "callee": "sip:b@y",
        "caller_display_name": None,
        "x_headers": {},
        "codec": "PCMU",
        "sample_rate": 8000,
    }

    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)

    def sidecar(self, rec: CallRecording) -> dict:
        return json.loads(Path(rec.json_path).read_text())

    def test_sidecar_at_start_and_end(self) -> None:
        rec = CallRecording(self.dir, dict(self.INFO), 1000.0)
        start = self.sidecar(rec)
        self.assertEqual(start["status"], "recording")
        self.assertEqual(start["started_at"], "1970-01-01T00:16:40.000+00:00")
        self.assertIsNone(start["ended_at"])
        self.assertEqual(start["wav"], os.path.basename(rec.wav_path))
        rec.write(b"\x00\x10" * 8000)
        rec.add_dtmf("5", 100.0, "rfc4733", 1000.25)
        rec.finish(1002.5, "remote_bye", {"cause": 16, "text": "bye"}, {"packets_in": 50})
        end = self.sidecar(rec)
        self.assertEqual(end["status"], "complete")
        self.assertEqual(end["ended_at"], "1970-01-01T00:16:42.500+00:00")
        self.assertEqual(end["duration_s"], 2.5)
        self.assertEqual(end["audio_seconds"], 1.0)
        self.assertEqual(
            end["dtmf"],
            [{"digit": "5", "offset_ms": 250, "duration_ms": 100.0, "source": "rfc4733"}],
        )
        self.assertEqual(
            end["hangup"], {"reason": "remote_bye", "bye_reason": {"cause": 16, "text": "bye"}}
        )
        self.assertEqual(end["stats"], {"packets_in": 50})
        self.assertEqual(read_wav(rec.wav_path), (8000, b"\x00\x10" * 8000))
        self.assertEqual(
            sorted(os.listdir(self.dir)),
            sorted([os.path.basename(rec.wav_path), os.path.basename(rec.json_path)]),
        )

    def test_dtmf_list_is_bounded(self) -> None:
        rec = CallRecording(self.dir, dict(self.INFO), 0.0, max_dtmf=2)
        for digit in "1234":
            rec.add_dtmf(digit, 80.0, "info", 1.0)
        rec.finish(2.0, "local_hangup", None, {})
        end = self.sidecar(rec)
        self.assertEqual([d["digit"] for d in end["dtmf"]], ["1", "2"])
        self.assertEqual(end["dtmf_dropped"], 2)

    def test_write_error_stops_recording_and_marks_it(self) -> None:
        rec = CallRecording(self.dir, dict(self.INFO), 0.0)
        rec.write(b"\x01\x00" * 100)
        rec.flush()

        class Full:
            closed = False

            def seek(self, offset: int) -> None:
                pass

            def write(self, data: bytes) -> int:
                raise OSError(28, "No space left on device")

            def close(self) -> None:
                self.closed = True

        real = rec._writer._file
        rec._writer._file = Full()
        rec.write(b"\x02\x00" * 100)
        rec.flush()
        self.assertEqual(rec.error, "No space left on device")
        rec.write(b"\x03\x00" * 100)  # ignored from now on
        rec.finish(1.0, "remote_bye", None, {})
        real.close()
        self.assertEqual(read_wav(rec.wav_path)[1], b"\x01\x00" * 100)
        end = self.sidecar(rec)
        self.assertEqual(end["status"], "incomplete")
        self.assertEqual(end["error"], "No space left on device")
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_unwritable_directory(self) -> None:
        self.assertRaises(
            OSError, CallRecording, os.path.join(self.dir, "nope"), dict(self.INFO), 0.0
        )
