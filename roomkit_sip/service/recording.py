# -*- test-case-name: tests.service.test_recording -*-
"""
The files of one recorded call: C{<stem>.wav} and its C{<stem>.json} sidecar.

Both must be usable whatever ends the call, including C{kill -9}:

  - the WAV header's RIFF and data sizes are rewritten after each flush,
    always I{after} the audio they count, so the file on disk is a valid WAV
    of everything flushed so far (at worst followed by bytes a reader skips);
  - audio waits in memory only until the next flush (the record app flushes
    every second; a full buffer flushes at once), so memory stays bounded
    however long the call lasts;
  - the sidecar is written whole to a temporary file and renamed over the old
    one (atomic on POSIX), once at the start and once at the end, so a reader
    never sees half a JSON document.

Flushes hand the data to the operating system (a killed process loses
nothing flushed) without C{fsync}: syncing on the reactor thread would stall
every call's media behind the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO

from twisted.logger import Logger

from roomkit_sip.service.callinfo import iso_time

#: Module-level, not per recording: an event's log_source would keep a
#: finished recording alive in any observer that retains events.
_log = Logger()

HEADER_SIZE = 44
#: The RIFF size field (36 + data bytes) is 32 bits wide.
MAX_DATA_BYTES = 0xFFFFFFFF - 36
#: Longest file-name stem taken from a Call-ID (common file systems allow 255).
MAX_STEM = 120
#: Key presses kept per call; more are counted, not listed.
MAX_DTMF = 1000

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_stem(call_id: str) -> str:
    """
    A file-name stem for C{call_id}: the Call-ID itself when it is made only of
    letters, digits, C{.}, C{_} and C{-} (and fits), otherwise the cleaned text
    plus a hash of the original, so that two Call-IDs cleaned to the same text
    still get different names.  Never empty, never hidden, never a path.
    """
    cleaned = _UNSAFE.sub("_", call_id).lstrip(".")[:MAX_STEM]
    if cleaned == call_id and cleaned:
        return cleaned
    digest = hashlib.sha256(call_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned or 'call'}-{digest}"


def create_exclusive(directory: str, stem: str, attempts: int = 1000) -> tuple[str, BinaryIO]:
    """
    Create C{<stem>.wav} (or C{<stem>-2.wav}, ...) without replacing any file:
    a Call-ID seen again (a retried call, a restarted load generator) must not
    overwrite an earlier recording.  The matching C{.json} must be free too.

    @return: the path without extension, and the new WAV file open for writing.
    @raise OSError: the directory is unusable, or every candidate is taken.
    """
    for n in range(1, attempts + 1):
        base = os.path.join(directory, stem if n == 1 else f"{stem}-{n}")
        if os.path.lexists(base + ".json"):
            continue
        try:
            return base, open(base + ".wav", "xb", buffering=0)
        except FileExistsError:
            continue
    raise OSError(f"no free file name for {stem} in {directory}")


def write_json_atomic(path: str, document: Any) -> None:
    """Replace C{path} with C{document} so readers see the old or the new, whole."""
    directory, name = os.path.split(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def wav_header(sample_rate: int, data_bytes: int) -> bytes:
    """The 44-byte header of a 16-bit mono PCM WAV holding C{data_bytes}."""
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 36 + data_bytes),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16),
            b"data",
            struct.pack("<I", data_bytes),
        )
    )


class WavWriter:
    """
    16-bit mono PCM appended to a WAV file whose header is right after every
    L{flush}.

    @ivar committed: audio bytes on disk and counted by the header.
    @ivar truncated: the 4 GiB WAV limit was reached; later audio is dropped.
    """

    def __init__(self, file: BinaryIO, sample_rate: int, max_buffer: int) -> None:
        self._file = file
        self.sample_rate = sample_rate
        self._max_buffer = max_buffer
        self._buffer = bytearray()
        self.committed = 0
        self.truncated = False
        self._write_at(0, wav_header(sample_rate, 0))

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, pcm: bytes) -> None:
        """Queue audio; flush at once if the buffer is full."""
        room = MAX_DATA_BYTES - self.committed - len(self._buffer)
        if len(pcm) > room:
            pcm = pcm[: room - room % 2]
            self.truncated = True
        self._buffer += pcm
        if len(self._buffer) >= self._max_buffer:
            self.flush()

    def flush(self) -> None:
        """Append the buffered audio, then make the header count it."""
        if not self._buffer:
            return
        self._write_at(HEADER_SIZE + self.committed, self._buffer)
        self.committed += len(self._buffer)
        self._buffer.clear()
        self._write_at(4, struct.pack("<I", 36 + self.committed))
        self._write_at(40, struct.pack("<I", self.committed))

    def close(self) -> None:
        """Flush and close; the buffer is dropped even if the flush fails."""
        try:
            self.flush()
        finally:
            self._buffer.clear()
            self._file.close()

    def _write_at(self, offset: int, data: bytes | bytearray) -> None:
        # Views are released even on error: a live view of the buffer would
        # forbid clearing it afterwards.
        self._file.seek(offset)
        done = 0
        with memoryview(data) as view:
            while done < len(view):
                with view[done:] as rest:
                    written = self._file.write(rest)
                if not written:
                    raise OSError("short write")
                done += written


class CallRecording:
    """
    One recorded call: the caller's audio, the key presses, and a sidecar that
    says who called, when, with which codec, and how it ended.

    @ivar base: the path of both files without extension.
    @ivar error: the first I/O error; audio is no longer written after one.
    """

    def __init__(
        self,
        directory: str,
        info: dict[str, Any],
        started: float,
        *,
        buffer_seconds: float = 2.0,
        max_dtmf: int = MAX_DTMF,
    ) -> None:
        """
        Create both files (the sidecar with C{"status": "recording"}).

        @param info: the call's identity (L{callinfo.describe}); names the
            files after C{info["call_id"]} and gives the WAV its sample rate.
        @param started: when the call was answered (POSIX seconds).
        @raise OSError: the files cannot be created.
        """
        self.base, wav = create_exclusive(directory, safe_stem(info["call_id"]))
        rate = info["sample_rate"]
        try:
            self._writer = WavWriter(wav, rate, max(2, int(rate * 2 * buffer_seconds)))
        except BaseException:
            wav.close()
            raise
        self.error: str | None = None
        self._started = started
        self._max_dtmf = max_dtmf
        self._dtmf: list[dict[str, Any]] = []
        self._dtmf_dropped = 0
        self._sidecar = dict(info)
        self._sidecar.update(
            wav=os.path.basename(self.base) + ".wav",
            started_at=iso_time(started),
            ended_at=None,
            duration_s=None,
            audio_seconds=0.0,
            dtmf=[],
            dtmf_dropped=0,
            hangup=None,
            stats=None,
            status="recording",
            error=None,
        )
        try:
            write_json_atomic(self.base + ".json", self._sidecar)
        except BaseException:
            self._writer.close()
            raise

    @property
    def wav_path(self) -> str:
        return self.base + ".wav"

    @property
    def json_path(self) -> str:
        return self.base + ".json"

    def write(self, pcm: bytes) -> None:
        """Record one frame of the caller's audio."""
        if self.error is None:
            self._guard(self._writer.write, pcm)

    def flush(self) -> None:
        """Put what is buffered on disk with a matching header."""
        if self.error is None:
            self._guard(self._writer.flush)

    def add_dtmf(self, digit: str, duration_ms: float, source: str, now: float) -> None:
        """Note a key press at C{now}, as an offset in ms from the answer."""
        if len(self._dtmf) >= self._max_dtmf:
            self._dtmf_dropped += 1
            return
        self._dtmf.append(
            {
                "digit": digit,
                "offset_ms": round((now - self._started) * 1000),
                "duration_ms": duration_ms,
                "source": source,
            }
        )

    def finish(
        self,
        ended: float,
        reason: str,
        bye_reason: dict[str, Any] | None,
        stats: dict[str, Any] | None,
    ) -> None:
        """Close the WAV and write the final sidecar; errors are logged, not raised."""
        if not self._writer.closed:
            self._guard(self._writer.close)
        complete = self.error is None and not self._writer.truncated
        self._sidecar.update(
            ended_at=iso_time(ended),
            duration_s=round(ended - self._started, 3),
            audio_seconds=round(self._writer.committed / (2 * self._writer.sample_rate), 3),
            dtmf=self._dtmf,
            dtmf_dropped=self._dtmf_dropped,
            hangup={"reason": reason, "bye_reason": bye_reason},
            stats=stats,
            status="complete" if complete else "incomplete",
            error=self.error or ("WAV size limit reached" if self._writer.truncated else None),
        )
        try:
            write_json_atomic(self.json_path, self._sidecar)
        except OSError as e:
            _log.error(
                "cannot write recording sidecar {path}: {error}",
                path=self.json_path,
                error=e.strerror or str(e),
            )

    def _guard(self, method: Callable[..., object], *args: Any) -> None:
        try:
            method(*args)
        except OSError as e:
            self.error = e.strerror or str(e)
            _log.error("recording {path} stopped: {error}", path=self.wav_path, error=self.error)
            if not self._writer.closed:
                try:
                    self._writer.close()
                except OSError:
                    pass
