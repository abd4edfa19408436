"""
What the interop tests of C{twistd roomkit-sip} share: the service built by
the real plugin, in this process or as a twistd child process, and the
checks on what it produced (HTTP answers, metrics, WAV recordings).

Nothing here sleeps: every wait is on a Deferred (a log event, a line of the
child's output, an HTTP answer, the child's exit) bounded by C{addTimeout}.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.application.service import IServiceMaker
from twisted.internet import defer, error, protocol
from twisted.internet.task import deferLater
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python.failure import Failure

from tests.support import audio

ROOT = Path(__file__).resolve().parent.parent.parent

#: RTP ports of services started in this process: a random block below the
#: ephemeral range (where SIPp's own ports fall), as the engine tests do.
RTP_SPAN = (20000, 30000)
RTP_BLOCK = 400

TONE_HZ = 1000.0
PEAK_DBFS = -12.0
#: RMS level of a sine whose peak is PEAK_DBFS.
TONE_DBFS = PEAK_DBFS - 3.01


def rtp_ports() -> str:
    """A C{--rtp-ports} value: a random block of L{RTP_SPAN}."""
    start = random.randrange(RTP_SPAN[0], RTP_SPAN[1] - RTP_BLOCK, 2)
    return f"{start}-{start + RTP_BLOCK}"


# --- the service, in this process ---------------------------------------------


def service_maker() -> Any:
    """The C{IServiceMaker} twistd finds for C{roomkit-sip}."""
    makers = [m for m in getPlugins(IServiceMaker) if m.tapname == "roomkit-sip"]
    if len(makers) != 1:
        raise AssertionError(f"expected one roomkit-sip plugin, found {makers!r}")
    return makers[0]


def make_service(*argv: str) -> Any:
    """C{twistd roomkit-sip ARGV}'s service, built as twistd builds it."""
    maker = service_maker()
    options = maker.options()
    options.parseOptions(list(argv))
    return maker.makeService(options)


class LogWatcher:
    """
    Every log event published while it is attached, and Deferreds that
    fire when a matching one is published.
    """

    def __init__(self) -> None:
        self.events: list[LogEvent] = []
        self._waiters: list[tuple[Callable[[LogEvent], bool], defer.Deferred[LogEvent]]] = []

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)
        for waiter in list(self._waiters):
            matches, d = waiter
            if matches(event):
                self._waiters.remove(waiter)
                d.callback(event)

    def attach(self, case: Any) -> LogWatcher:
        globalLogPublisher.addObserver(self)
        case.addCleanup(globalLogPublisher.removeObserver, self)
        return self

    def wait_for(
        self, matches: Callable[[LogEvent], bool], reactor: Any, timeout: float = 10.0
    ) -> defer.Deferred[LogEvent]:
        for event in self.events:
            if matches(event):
                return defer.succeed(event)
        d: defer.Deferred[LogEvent] = defer.Deferred()
        self._waiters.append((matches, d))
        return d.addTimeout(timeout, reactor)

    def texts(self) -> list[str]:
        return [formatEvent(e) for e in self.events]


def call_event(kind: str) -> Callable[[LogEvent], bool]:
    """Matches the service's C{call ... started} (or C{ended}) log event."""
    return lambda e: str(e.get("log_format", "")).startswith(f"call {{session_id}} {kind}:")


# --- HTTP ------------------------------------------------------------------------


@dataclass
class HTTPAnswer:
    code: int
    body: bytes
    headers: Any

    def json(self) -> Any:
        return json.loads(self.body)


@defer.inlineCallbacks
def http_get(reactor: Any, url: str, timeout: float = 5.0):
    """GET C{url} with treq over a connection that is closed afterwards."""
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool

    client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
    response = yield client.get(url, timeout=timeout, reactor=reactor)
    body = yield response.content()
    return HTTPAnswer(response.code, body, response.headers)


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text format as C{{(sample name, sorted labels): value}}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


# --- WAV recordings ----------------------------------------------------------------


@dataclass
class WavCheck:
    """A recording read back with the stdlib C{wave} module."""

    rate: int
    frames: int
    pcm: bytes
    file_size: int
    riff_size: int
    data_size: int

    @classmethod
    def read(cls, path: str | Path) -> WavCheck:
        raw = Path(path).read_bytes()
        with wave.open(str(path), "rb") as w:
            shape = (w.getnchannels(), w.getsampwidth())
            if shape != (1, 2):
                raise AssertionError(f"{path}: {shape[0]} channels of {shape[1]} bytes")
            rate, frames = w.getframerate(), w.getnframes()
            pcm = w.readframes(frames)
        return cls(
            rate=rate,
            frames=frames,
            pcm=pcm,
            file_size=len(raw),
            riff_size=int.from_bytes(raw[4:8], "little"),
            data_size=int.from_bytes(raw[40:44], "little"),
        )

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def loud_run(self, threshold_dbfs: float = -30.0) -> tuple[float, float]:
        """
        Start and end (seconds) of the longest run of 20 ms frames louder
        than C{threshold_dbfs}: where the caller's tone is.
        """
        size = self.rate // 50 * 2
        best = (0, 0)
        start = None
        count = len(self.pcm) // size
        for i in range(count + 1):
            loud = (
                i < count and audio.rms_dbfs(self.pcm[i * size : (i + 1) * size]) > threshold_dbfs
            )
            if loud and start is None:
                start = i
            elif not loud and start is not None:
                if i - start > best[1] - best[0]:
                    best = (start, i)
                start = None
        return best[0] / 50, best[1] / 50

    def tone(self, hz: float, start: float, end: float, **limits: float) -> audio.ToneAnalysis:
        """L{audio.analyse_tone} of the span C{[start, end)} seconds, at the WAV's rate."""
        first, last = round(start * self.rate) * 2, round(end * self.rate) * 2
        return audio.analyse_tone(self.pcm[first:last], rate=self.rate, expected_hz=hz, **limits)


def assert_tone_recorded(case: Any, wav: WavCheck, hz: float, seconds: float, **limits: float):
    """
    The WAV holds the caller's tone: one loud stretch about C{seconds} long
    whose middle is a tone of C{hz} at the level sent (±1.5 dB).
    """
    start, end = wav.loud_run()
    case.assertLess(abs((end - start) - seconds), 0.15, (start, end))
    analysis = wav.tone(
        hz,
        start + 0.1,
        end - 0.1,
        **{
            "min_dbfs": TONE_DBFS - 1.5,
            "max_dbfs": TONE_DBFS + 1.5,
            "min_purity": 0.95,
            **limits,
        },
    )
    case.assertEqual(analysis.problems, [], analysis)
    return start, end


def tone_wav(path: str | Path, hz: float, seconds: float, *, rate: int, channels: int = 1) -> str:
    """Write a sine of C{hz} (peak L{PEAK_DBFS}) as a 16-bit PCM WAV."""
    pcm = audio.tone(hz, seconds, rate=rate, peak_dbfs=PEAK_DBFS)
    if channels == 2:
        samples = audio.to_samples(pcm)
        pcm = audio.to_pcm([s for sample in samples for s in (sample, sample)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return str(path)


@defer.inlineCallbacks
def poll(reactor: Any, condition: Callable[[], bool], timeout: float, every: float = 0.05):
    """
    Check C{condition()} on the reactor every C{every} seconds until true;
    fails with C{TimeoutError} after C{timeout}.  For state outside this
    process (a file another process writes), which no event announces.
    """
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        yield deferLater(reactor, every, lambda: None)


# --- twistd as a child process ---------------------------------------------------------


class _Output(protocol.ProcessProtocol):
    def __init__(self, child: TwistdProcess) -> None:
        self.child = child
        self.buffer = b""

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = re.split(b"\r?\n", self.buffer)
        for line in lines:
            self.child._line(line.decode("utf-8", "replace"))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if self.buffer:
            self.child._line(self.buffer.decode("utf-8", "replace"))
        self.child._ended(reason.value)


class TwistdProcess:
    """
    C{twistd -n --pidfile= ... roomkit-sip ...} run as an operator runs it,
    by this interpreter, with this checkout on C{PYTHONPATH}.

    @ivar lines: stdout and stderr, line by line.
    @ivar exit_code: once it exited (C{None} if a signal killed it).
    """

    def __init__(
        self, reactor: Any, argv: list[str], cwd: str, twistd_options: tuple[str, ...] = ()
    ) -> None:
        self._reactor = reactor
        self.lines: list[str] = []
        self._waiters: list[tuple[Callable[[str], bool], defer.Deferred[str]]] = []
        self._exit_waiters: list[defer.Deferred[int | None]] = []
        self.exit_code: int | None = None
        self.signal: int | None = None
        code = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")
        args = [sys.executable, "-c", code, "-n", "--pidfile=", *twistd_options, "roomkit-sip"]
        self._transport = reactor.spawnProcess(
            _Output(self), sys.executable, [*args, *argv], env=env, path=cwd
        )
        self.pid = self._transport.pid

    @property
    def running(self) -> bool:
        return self._transport.pid is not None

    def _line(self, line: str) -> None:
        self.lines.append(line)
        for waiter in list(self._waiters):
            matches, d = waiter
            if matches(line):
                self._waiters.remove(waiter)
                d.callback(line)

    def _ended(self, reason: BaseException) -> None:
        self.exit_code = getattr(reason, "exitCode", None)
        self.signal = getattr(reason, "signal", None)
        waiters, self._waiters = self._waiters, []
        for _, d in waiters:
            d.errback(AssertionError("twistd exited first:\n" + self.output()))
        exits, self._exit_waiters = self._exit_waiters, []
        for d in exits:
            d.callback(self.exit_code)

    def wait_for_line(
        self, matches: Callable[[str], bool], timeout: float = 15.0
    ) -> defer.Deferred[str]:
        """Fires with the first line (seen or to come) C{matches} accepts."""
        for line in self.lines:
            if matches(line):
                return defer.succeed(line)
        if not self.running:
            return defer.fail(AssertionError("twistd exited:\n" + self.output()))
        d: defer.Deferred[str] = defer.Deferred()
        self._waiters.append((matches, d))
        return d.addTimeout(timeout, self._reactor)

    def kill(self, name: str) -> None:
        """Send signal C{name} (C{"TERM"}, C{"KILL"}) to this process, by its PID."""
        try:
            self._transport.signalProcess(name)
        except error.ProcessExitedAlready:
            pass

    def wait_exit(self, timeout: float | None = None) -> defer.Deferred[int | None]:
        """Fires with L{exit_code} once the process is gone."""
        if not self.running:
            return defer.succeed(self.exit_code)
        d: defer.Deferred[int | None] = defer.Deferred()
        self._exit_waiters.append(d)
        return d if timeout is None else d.addTimeout(timeout, self._reactor)

    def terminate(self) -> defer.Deferred[None]:
        """For C{addCleanup}: SIGKILL if still running, then wait for the exit."""
        self.kill("KILL")
        return self.wait_exit().addCallback(lambda _: None)

    def output(self) -> str:
        return "\n".join(self.lines[-200:])


def json_records(text: str) -> list[dict[str, Any]]:
    """RFC 7464 JSON text sequences (what C{jsonFileLogObserver} writes)."""
    records = []
    for chunk in text.split("\x1e"):
        chunk = chunk.strip()
        if chunk:
            records.append(json.loads(chunk))
    return records


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
