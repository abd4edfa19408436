"""
Drive the real SIPp from trial tests, in the test's own reactor.

SIPp runs as a child process (C{reactor.spawnProcess}), so a Twisted SIP engine
under test keeps running in the same reactor while SIPp calls it.  Every run
is bounded twice: SIPp's own C{-timeout <s>s -timeout_error}, and a reactor-side
watchdog that signals the child by its PID (SIGINT, so SIPp still writes its
traces, then SIGKILL) and fails the run with L{SippTimedOut}.  A run always
happens in a fresh temporary directory that holds a copy of the scenario, the
files it plays (pcaps) and SIPp's traces; the directory is deleted once the
traces are read into the L{SippResult}.

An engine test::

    from tests.interop import sipp
    from tests.support.audio import analyse_tone, ulaw_decode

    class EchoCallTests(unittest.TestCase):
        def setUp(self):
            sipp.require_sipp()
            sipp.require_raw_sockets()          # play_pcap_audio needs them

        @defer.inlineCallbacks
        def test_caller_hears_itself(self):
            engine = ...                         # our UAS, bound on 127.0.0.1:port
            sink = sipp.listen_rtp_sink(reactor) # where the echo must arrive
            self.addCleanup(sink.stop)
            result = yield sipp.run_sipp(
                reactor, "uac_basic_rtp.xml", remote=("127.0.0.1", port),
                rtp_sink=sink, files=sipp.media_files(seconds=1.0), pause_ms=1500)
            result.assert_ok(calls=1)
            frames = sink.decoded_frames(0, ulaw_decode)
            ...

SIPp is found as C{$SIPP} or C{sipp} on C{PATH}.  Without it L{require_sipp}
skips the test, unless C{ROOMKIT_SIP_REQUIRE_SIPP=1} (CI), which turns the skip
into a failure.  C{ROOMKIT_SIP_KEEP_SIPP_LOGS=1} keeps each run's directory and
names it in the report.

Headless: C{-nostdin}, stdin closed, stdout/stderr captured by the process
protocol (SIPp then prints plain-text screens, no terminal UI, C{TERM=dumb}),
every trace written to a file named with C{-message_file}, C{-error_file}, ...
in the run's own directory, so two concurrent SIPps never share a file.  Each
run gets free ports for C{-p} (SIP), C{-mp} (media: SIPp binds it and +2) and
C{-cp} (SIPp's UDP control socket, bound on C{-ci 127.0.0.1}).

The scenarios' media comes from C{play_pcap_audio}, which sends through a raw
socket: root or C{CAP_NET_RAW} (L{require_raw_sockets}).
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import shutil
import socket
import tempfile
import unittest
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer, error, protocol
from twisted.python import failure

from tests.support import audio, pcap
from tests.support.rtp_sink import RtpSink

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
REQUIRE_ENV = "ROOMKIT_SIP_REQUIRE_SIPP"
KEEP_ENV = "ROOMKIT_SIP_KEEP_SIPP_LOGS"
HOST = "127.0.0.1"

#: Offset, in every scenario's SDP, of the RTP port from SIPp's C{-mp}.  SIPp
#: sends play_pcap_audio packets *from* the port it wrote into the SDP only when
#: that port comes from C{[media_port+N]} (with a C{-key} keyword it sends from
#: UDP port 0); so the SDP says C{[media_port+4]}, SIPp itself binds C{-mp} and
#: C{-mp}+2, and the test's sink listens on C{-mp}+4: caller RTP leaves from,
#: and must come back to, the same address (symmetric RTP, RFC 4961).
SINK_OFFSET = 4

#: SIPp's exit codes (C{sipp -h}).
EXIT_CODES = {
    0: "all calls succeeded",
    1: "at least one call failed",
    97: "exit on internal command",
    99: "normal exit without calls processed",
    255: "fatal error (-1)",
    254: "fatal error binding a socket (-2)",
}

SIPP_DATA_DIRS = (Path("/usr/share/sip-tester"), Path("/usr/share/sipp"))

#: seconds one side of L{run_with_peer} may go on after the other failed
PAIR_GRACE = 1.0


# --- finding SIPp ------------------------------------------------------------


def sipp_binary() -> str | None:
    """
    The SIPp executable: C{$SIPP} if set, else C{sipp} on C{PATH}.
    """
    configured = os.environ.get("SIPP")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("sipp")


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _required():
        raise AssertionError(f"{reason}, and {REQUIRE_ENV}=1 makes that a failure")
    raise unittest.SkipTest(reason)


def require_sipp() -> str:
    """
    Return SIPp's path, or skip the calling test (fail it under C{$REQUIRE_ENV}).
    """
    path = sipp_binary()
    if path is None:
        _unavailable("SIPp not found (install Debian's sip-tester or set $SIPP)")
    return path


@functools.cache
def raw_sockets_available() -> bool:
    """
    Whether this process (and so SIPp, its child) may open raw UDP sockets.

    SIPp's C{play_pcap_audio} sends through a raw socket: root or
    C{CAP_NET_RAW}.
    """
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except OSError:
        return False
    return True


def require_raw_sockets() -> None:
    """
    Skip (or fail, under C{$REQUIRE_ENV}) a test that plays pcaps without
    the privilege to.
    """
    require_sipp()
    if not raw_sockets_available():
        _unavailable("SIPp's play_pcap_audio needs a raw socket (root or CAP_NET_RAW)")


# --- ports -------------------------------------------------------------------

_handed_out: set[int] = set()


def _bindable(port: int, kind: int) -> bool:
    probe = socket.socket(socket.AF_INET, kind)
    try:
        probe.bind((HOST, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def free_port(*, tcp: bool = False, span: Sequence[int] = (0,)) -> int:
    """
    A port P on 127.0.0.1 such that every P+offset in C{span} is free for UDP
    (and TCP when C{tcp}), never handed out before by this process.

    Nothing holds the port afterwards: the caller binds it (or gives it to
    SIPp) at once.  The OS picks P, so concurrent test processes rarely meet.
    """
    for _ in range(200):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((HOST, 0))
        base = probe.getsockname()[1] & ~1  # even, as RTP likes
        probe.close()
        ports = [base + offset for offset in span]
        if any(p in _handed_out or p > 65535 for p in ports):
            continue
        kinds = (socket.SOCK_DGRAM, socket.SOCK_STREAM) if tcp else (socket.SOCK_DGRAM,)
        if all(_bindable(p, kind) for p in ports for kind in kinds):
            _handed_out.update(ports)
            return base
    raise RuntimeError("no free port found on 127.0.0.1")


def listen_rtp_sink(reactor) -> RtpSink:
    """
    An L{RtpSink} on 127.0.0.1 whose port P has P-4 and P-2 free for SIPp.

    Pass it as C{run_sipp(..., rtp_sink=sink)}: SIPp gets C{-mp P-4}, so the
    SDP it sends names the sink's port (see L{SINK_OFFSET}).  Stop it with
    C{sink.stop()} (a cleanup).
    """
    for _ in range(50):
        media_port = free_port(span=(0, 2))
        try:
            sink = RtpSink.listen(reactor, HOST, media_port + SINK_OFFSET)
        except error.CannotListenError:
            continue
        _handed_out.add(media_port + SINK_OFFSET)
        return sink
    raise RuntimeError("no free port block for an RTP sink")


def _listening(port: int, tcp: bool) -> bool | None:
    """
    Whether something listens on C{port} (from C{/proc/net}); C{None}: unknown.
    """
    names = ("tcp", "tcp6") if tcp else ("udp", "udp6")
    found_table = False
    for name in names:
        try:
            lines = Path("/proc/net", name).read_text().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and (not tcp or fields[3] == "0A"):  # 0A: LISTEN
                return True
    return False if found_table else None


# --- media files -------------------------------------------------------------


@functools.cache
def _media_files(
    tone_hz: float, seconds: float, peak_dbfs: float, bundled_dtmf: bool
) -> tuple[tuple[str, bytes], ...]:
    files = {
        "caller_audio.pcap": pcap.pcap_bytes(
            pcap.tone_packets(
                audio.tone(tone_hz, seconds, peak_dbfs=peak_dbfs),
                encode=audio.ulaw_encode,
                payload_type=0,
            )
        )
    }
    for digit, name in (("1", "1"), ("#", "pound")):
        bundled = [d / f"dtmf_2833_{name}.pcap" for d in SIPP_DATA_DIRS]
        existing = [p for p in bundled if p.is_file()]
        if bundled_dtmf and existing:
            files[f"dtmf_{name}.pcap"] = existing[0].read_bytes()
        else:
            # Same SSRC as the audio, later sequence numbers and timestamps.
            start = 1000 + round(seconds * 50) + (0 if digit == "1" else 20)
            files[f"dtmf_{name}.pcap"] = pcap.pcap_bytes(
                pcap.dtmf_packets(digit, seq=start, timestamp=start * 160)
            )
    return tuple(files.items())


def media_files(
    *,
    tone_hz: float = 1000.0,
    seconds: float = 1.0,
    peak_dbfs: float = -12.0,
    bundled_dtmf: bool = True,
) -> dict[str, bytes]:
    """
    The pcaps the scenarios play, generated in memory (cached).

      - C{caller_audio.pcap}: a PCMU (PT 0) tone of C{tone_hz}, C{seconds}
        long, 20 ms packets, SSRC 0x5EED0001, marker on the first packet.
      - C{dtmf_1.pcap}, C{dtmf_pound.pcap}: RFC 4733 events (PT 101) for "1"
        and "#": SIPp's own captures when installed (C{bundled_dtmf}), else
        generated ones on the audio's SSRC.
    """
    return dict(_media_files(tone_hz, seconds, peak_dbfs, bundled_dtmf))


# --- results -----------------------------------------------------------------


@dataclass(frozen=True)
class TracedMessage:
    """
    One SIP message from SIPp's C{-trace_msg} log.

    @ivar direction: C{"sent"} or C{"received"} (from SIPp's point of view).
    """

    time: float
    direction: str
    transport: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> str | None:
        """
        The request method, or C{None} for a response.
        """
        return None if self.first_line.startswith("SIP/2.0") else self.first_line.split(" ")[0]

    @property
    def status(self) -> int | None:
        if not self.first_line.startswith("SIP/2.0"):
            return None
        return int(self.first_line.split(" ")[1])

    def header(self, name: str) -> list[str]:
        """
        Values of header C{name} (case-insensitive; compact forms not expanded).
        """
        head = self.text.split("\n\n", 1)[0]
        prefix = name.lower() + ":"
        return [
            line.split(":", 1)[1].strip()
            for line in head.split("\n")[1:]
            if line.lower().startswith(prefix)
        ]

    @property
    def body(self) -> str:
        parts = self.text.split("\n\n", 1)
        return parts[1] if len(parts) > 1 else ""


_TRACE_SEPARATOR = re.compile(
    r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*$\n"
    r"^(UDP|TCP|TLS|SCTP) message (sent|received)[^\n]*\n",
    re.M,
)


def parse_message_trace(text: str) -> list[TracedMessage]:
    """
    Split a C{-trace_msg} log into messages (line ends normalised to C{\\n}).
    """
    text = text.replace("\r\n", "\n")
    matches = list(_TRACE_SEPARATOR.finditer(text))
    out = []
    for match, following in zip(matches, matches[1:] + [None]):
        end = following.start() if following else len(text)
        when = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f")
        body = text[match.end() : end].strip("\n")
        out.append(TracedMessage(when.timestamp(), match.group(3), match.group(2), body + "\n"))
    return out


def parse_stat_csv(text: str) -> dict[str, str]:
    """
    The last row of a C{-trace_stat} file, keyed by its header.
    """
    rows = [line for line in text.splitlines() if line.strip()]
    if len(rows) < 2:
        return {}
    header = rows[0].rstrip(";").split(";")
    values = rows[-1].rstrip(";").split(";")
    return dict(zip(header, values))


def _screen_counter(screen: str, name: str) -> int | None:
    found = re.findall(rf"^\s*{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen, re.M)
    return int(found[-1]) if found else None


@dataclass
class SippResult:
    """
    What one SIPp run did.

    @ivar exit_code: SIPp's exit status (see L{EXIT_CODES}); C{None} if killed.
    @ivar signal: the signal that killed it, if any.
    @ivar stats: the final C{-trace_stat} row (C{"SuccessfulCall(C)"}, ...).
    @ivar messages: the C{-trace_msg} log; L{traced} parses it.
    @ivar errors: the C{-trace_err} log (unexpected messages, failed checks).
    @ivar screen: the final screens (C{-trace_screen}).
    @ivar logs: the output of the scenario's C{<log>} actions.
    @ivar calldebug: C{-trace_calldebug}: history of every aborted call.
    @ivar output: stdout and stderr.
    @ivar stopped: the harness ended SIPp early (watchdog, or its peer failed).
    @ivar address: SIPp's own SIP address C{(host, port)}.
    @ivar media_port: SIPp's C{-mp} (where C{-rtp_echo} listens, and where
        its SDP's C{[media_port]} points).
    """

    scenario: str
    args: list[str]
    exit_code: int | None = None
    signal: int | None = None
    elapsed: float = 0.0
    stats: dict[str, str] = field(default_factory=dict)
    messages: str = ""
    errors: str = ""
    screen: str = ""
    logs: str = ""
    calldebug: str = ""
    output: str = ""
    workdir: str | None = None
    stopped: bool = False
    address: tuple[str, int] | None = None
    media_port: int | None = None

    def _counter(self, stat: str, screen_name: str) -> int | None:
        if stat in self.stats:
            try:
                return int(self.stats[stat])
            except ValueError:
                pass
        return _screen_counter(self.screen or self.output, screen_name)

    @property
    def successful(self) -> int | None:
        return self._counter("SuccessfulCall(C)", "Successful call")

    @property
    def failed(self) -> int | None:
        return self._counter("FailedCall(C)", "Failed call")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.stopped

    def traced(self) -> list[TracedMessage]:
        return parse_message_trace(self.messages)

    def received(self, method_or_status: str | int) -> list[TracedMessage]:
        """
        Messages SIPp received with this method (C{"BYE"}) or status (C{200}).
        """
        return [
            m
            for m in self.traced()
            if m.direction == "received"
            and (m.status if isinstance(method_or_status, int) else m.method) == method_or_status
        ]

    def sent(self, method_or_status: str | int) -> list[TracedMessage]:
        return [
            m
            for m in self.traced()
            if m.direction == "sent"
            and (m.status if isinstance(method_or_status, int) else m.method) == method_or_status
        ]

    def summary(self) -> str:
        meaning = EXIT_CODES.get(self.exit_code, "?") if self.signal is None else "killed"
        if self.stopped:
            meaning += ", stopped by the harness"
        return (
            f"SIPp {self.scenario}: exit {self.exit_code} ({meaning}), signal {self.signal}, "
            f"successful {self.successful}, failed {self.failed}, {self.elapsed:.2f} s"
        )

    def report(self, limit: int = 12000) -> str:
        """
        Everything a failing test should print about this run.
        """

        def section(title: str, text: str) -> str:
            text = text.strip()
            if len(text) > limit:
                text = f"[... {len(text) - limit} chars cut ...]\n" + text[-limit:]
            return f"--- {title} ---\n{text or '(empty)'}\n"

        parts = [self.summary() + "\n", "command: " + " ".join(self.args) + "\n"]
        if self.workdir:
            parts.append(f"files kept in {self.workdir}\n")
        parts.append(section("errors (-trace_err)", self.errors))
        parts.append(section("aborted calls (-trace_calldebug)", self.calldebug))
        parts.append(section("log actions (-trace_logs)", self.logs))
        parts.append(section("messages (-trace_msg)", self.messages))
        parts.append(section("stdout/stderr", self.output[-4000:]))
        return "".join(parts)

    def assert_ok(self, calls: int | None = None) -> None:
        """
        Raise C{AssertionError} with L{report} unless SIPp exited 0 (and,
        given C{calls}, counted that many successful calls and no failed one).
        """
        if not self.ok or (calls is not None and (self.successful, self.failed) != (calls, 0)):
            expected = f" (expected {calls} successful calls)" if calls is not None else ""
            raise AssertionError(f"SIPp run failed{expected}\n{self.report()}")


class SippTimedOut(AssertionError):
    """
    The watchdog stopped SIPp; C{result} holds what it had traced so far.
    """

    def __init__(self, result: SippResult, after: float) -> None:
        super().__init__(f"SIPp still running after {after:.1f} s: stopped\n{result.report()}")
        self.result = result


class SippExited(AssertionError):
    """
    SIPp ended before it was ready (e.g. a port was taken, a scenario error).
    """

    def __init__(self, result: SippResult) -> None:
        super().__init__(f"SIPp exited before it was listening\n{result.report()}")
        self.result = result


# --- the process -------------------------------------------------------------


class _SippProtocol(protocol.ProcessProtocol):
    MAX_OUTPUT = 256 * 1024

    def __init__(self, ended: defer.Deferred) -> None:
        self.ended = ended
        self.output = bytearray()

    def connectionMade(self) -> None:
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if len(self.output) > self.MAX_OUTPUT:
            del self.output[: len(self.output) - self.MAX_OUTPUT]

    errReceived = outReceived

    def processEnded(self, reason: failure.Failure) -> None:
        self.ended.callback(reason.value)


class SippProcess:
    """
    One running SIPp.  Created by L{start_sipp}.

    @ivar address: SIPp's SIP address C{(host, port)}.
    @ivar media_port: its C{-mp}.
    @ivar pid: its process id (every signal goes to this PID only).
    @ivar done: fires with the L{SippResult} when SIPp exits; fails with
        L{SippTimedOut} when the watchdog had to stop it.
    """

    #: seconds between SIGINT (SIPp flushes its traces and exits) and SIGKILL
    STOP_GRACE = 2.0

    def __init__(
        self,
        reactor,
        args: list[str],
        workdir: Path,
        keep: bool,
        scenario: str,
        address: tuple[str, int],
        media_port: int,
        tcp: bool,
        watchdog_s: float,
    ) -> None:
        self._reactor = reactor
        self._workdir = workdir
        self._keep = keep
        self._tcp = tcp
        self.address = address
        self.media_port = media_port
        self.result = SippResult(
            scenario=scenario, args=args, address=address, media_port=media_port
        )
        self._ready_waiters: list[defer.Deferred[SippProcess]] = []
        self._is_ready = False
        self.done: defer.Deferred[SippResult] = defer.Deferred()
        self._timed_out = False
        self._watchdog_s = watchdog_s
        self._started = reactor.seconds()
        self._poll = None
        self._hard_kill = None
        ended: defer.Deferred = defer.Deferred()
        ended.addCallback(self._ended)
        self._protocol = _SippProtocol(ended)
        env = dict(os.environ, TERM="dumb", LC_ALL="C")
        self._transport = reactor.spawnProcess(
            self._protocol,
            args[0],
            args,
            env=env,
            path=str(workdir),
            childFDs={0: "w", 1: "r", 2: "r"},
        )
        self.pid = self._transport.pid
        self._watchdog = reactor.callLater(watchdog_s, self._timeout)

    @property
    def running(self) -> bool:
        return self._transport.pid is not None

    def when_ready(self) -> defer.Deferred[SippProcess]:
        """
        Fires (with this object) once SIPp's SIP socket listens, so that a
        client may call it; fails with L{SippExited} if SIPp ends first (or
        L{SippTimedOut}).  Polls C{/proc/net} every 10 ms; where that does not
        exist it fires at once.
        """
        d: defer.Deferred[SippProcess] = defer.Deferred()
        if self._is_ready:
            d.callback(self)
        elif not self.running:
            d.errback(SippExited(self.result))
        else:
            self._ready_waiters.append(d)
            if self._poll is None:
                self._check_ready()
        return d

    def _check_ready(self) -> None:
        self._poll = None
        if not self.running:
            return
        state = _listening(self.address[1], self._tcp)
        if state is None or state:
            self._is_ready = True
            waiters, self._ready_waiters = self._ready_waiters, []
            for d in waiters:
                d.callback(self)
        else:
            self._poll = self._reactor.callLater(0.01, self._check_ready)

    def _timeout(self) -> None:
        self._watchdog = None
        self._timed_out = True
        self.stop()

    def _signal(self, name: str) -> None:
        if self.running:
            try:
                self._transport.signalProcess(name)
            except error.ProcessExitedAlready:
                pass

    def stop(self) -> defer.Deferred[SippResult]:
        """
        End this SIPp early: SIGINT (SIPp writes its traces and exits), then
        SIGKILL after L{STOP_GRACE} seconds, both to its PID.  The result is
        marked C{stopped}, so it is never L{SippResult.ok}.

        @return: L{done}.
        """
        if self.running:
            self.result.stopped = True
            self._signal("INT")
            if self._hard_kill is None:
                self._hard_kill = self._reactor.callLater(self.STOP_GRACE, self._signal, "KILL")
        return self.done

    def terminate(self) -> defer.Deferred[None]:
        """
        For C{addCleanup}: stop if still running, wait for the exit, and
        swallow the outcome (a test that cares looks at L{done} itself).
        """
        self.stop()
        d: defer.Deferred[None] = defer.Deferred()
        self.done.addBoth(lambda _: d.callback(None))
        return d

    def _read(self, name: str) -> str:
        try:
            return (self._workdir / name).read_text(errors="replace")
        except OSError:
            return ""

    def _ended(self, reason: BaseException) -> None:
        for call in (self._poll, self._watchdog, self._hard_kill):
            if call is not None and call.active():
                call.cancel()
        result = self.result
        result.exit_code = getattr(reason, "exitCode", None)
        result.signal = getattr(reason, "signal", None)
        result.elapsed = self._reactor.seconds() - self._started
        result.stats = parse_stat_csv(self._read("stat.csv"))
        result.messages = self._read("messages.log")
        result.errors = self._read("errors.log")
        result.screen = self._read("screen.log")
        result.logs = self._read("logs.log")
        result.calldebug = self._read("calldebug.log")
        result.output = self._protocol.output.decode("utf-8", "replace")
        if self._keep:
            result.workdir = str(self._workdir)
        else:
            shutil.rmtree(self._workdir, ignore_errors=True)
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.errback(
                SippTimedOut(result, self._watchdog_s) if self._timed_out else SippExited(result)
            )
        if self._timed_out:
            self.done.errback(SippTimedOut(result, self._watchdog_s))
        else:
            self.done.callback(result)


def _scenario_path(scenario: str | os.PathLike) -> Path:
    path = Path(scenario)
    if not path.is_absolute() and not path.exists():
        path = SCENARIOS / path
    if not path.is_file():
        raise FileNotFoundError(f"no SIPp scenario {scenario!r}")
    return path


def start_sipp(
    reactor,
    scenario: str | os.PathLike,
    remote: tuple[str, int] | None = None,
    *,
    transport: str = "u1",
    calls: int = 1,
    rate: float | None = None,
    limit: int | None = None,
    keys: Mapping[str, str | int] | None = None,
    timeout_s: float = 15.0,
    watchdog_s: float | None = None,
    pause_ms: int | None = None,
    files: Mapping[str, bytes | os.PathLike] | None = None,
    rtp_sink: RtpSink | None = None,
    media_port: int | None = None,
    local_port: int | None = None,
    rtp_echo: bool = False,
    auth: tuple[str, str] | None = None,
    extra_args: Iterable[str] = (),
) -> SippProcess:
    """
    Start SIPp on 127.0.0.1 (L{run_sipp} waits for it to finish).

    Without C{remote} SIPp is a server (its scenario starts with C{<recv>});
    wait for L{SippProcess.when_ready} before sending it anything.

    @param scenario: a file name in C{tests/interop/scenarios/} or a path.
    @param remote: C{(host, port)} to call; C{None} runs SIPp as a server.
    @param transport: C{u1} (UDP) or C{t1} (TCP); C{un}/C{tn}: one socket per call.
    @param calls: C{-m}: stop after this many calls.
    @param rate: C{-r}: calls per second.
    @param limit: C{-l}: at most this many simultaneous calls.
    @param keys: C{-key name value} for each item, used as C{[name]} in the XML.
    @param timeout_s: SIPp's C{-timeout} (with C{-timeout_error}).
    @param watchdog_s: kill SIPp after this long (default C{timeout_s + 5}).
    @param pause_ms: C{-d}: the length of every C{<pause/>} without a value.
    @param files: C{{name: bytes or path}} put next to the scenario, e.g. the
        pcaps it plays (see L{media_files}).
    @param rtp_sink: an L{RtpSink} from L{listen_rtp_sink}: the SDP's RTP port
        (C{[media_port+4]}) becomes the sink's.
    @param media_port: C{-mp} when there is no sink (default: a free port).
    @param local_port: C{-p} (default: a free port).
    @param rtp_echo: C{-rtp_echo}: echo RTP received on C{-mp} to its sender.
    @param auth: C{(user, password)} for C{[authentication]} (C{-au}, C{-ap}).
    @param extra_args: more SIPp options.
    @return: the running L{SippProcess}.
    """
    binary = require_sipp()
    if transport not in ("u1", "un", "t1", "tn"):
        raise ValueError(f"transport {transport!r}: use u1, un, t1 or tn")
    tcp = transport.startswith("t")
    scenario_path = _scenario_path(scenario)
    if rtp_sink is not None:
        if media_port is not None:
            raise ValueError("give rtp_sink or media_port, not both")
        media_port = rtp_sink.port - SINK_OFFSET
    if media_port is None:
        media_port = free_port(span=(0, 2))
    if local_port is None:
        local_port = free_port(tcp=tcp)
    control_port = free_port()
    watchdog_s = timeout_s + 5.0 if watchdog_s is None else watchdog_s

    keep = os.environ.get(KEEP_ENV, "") not in ("", "0")
    workdir = Path(tempfile.mkdtemp(prefix=f"sipp-{scenario_path.stem}-"))
    try:
        shutil.copy(scenario_path, workdir / scenario_path.name)
        for name, content in (files or {}).items():
            if Path(name).name != name:
                raise ValueError(f"file name {name!r} must not contain a directory")
            if isinstance(content, bytes):
                (workdir / name).write_bytes(content)
            else:
                shutil.copy(content, workdir / name)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

    args = [binary]
    if remote is not None:
        args.append(f"{remote[0]}:{remote[1]}")
    args += [
        "-sf", scenario_path.name,
        "-t", transport,
        "-i", HOST, "-p", str(local_port),
        "-mi", HOST, "-mp", str(media_port),
        "-ci", HOST, "-cp", str(control_port),
        "-m", str(calls),
        "-nostdin",
        "-timeout", f"{max(1, round(timeout_s))}s", "-timeout_error",
        "-trace_msg", "-message_file", "messages.log",
        "-trace_err", "-error_file", "errors.log",
        "-trace_stat", "-stf", "stat.csv",
        "-trace_screen", "-screen_file", "screen.log",
        "-trace_logs", "-log_file", "logs.log",
        "-trace_calldebug", "-calldebug_file", "calldebug.log",
    ]  # fmt: skip
    if rate is not None:
        args += ["-r", f"{rate:g}"]
    if limit is not None:
        args += ["-l", str(limit)]
    if pause_ms is not None:
        args += ["-d", str(pause_ms)]
    if rtp_echo:
        args.append("-rtp_echo")
    if auth is not None:
        args += ["-au", auth[0], "-ap", auth[1]]
    for key, value in (keys or {}).items():
        args += ["-key", key, str(value)]
    args += list(extra_args)
    return SippProcess(
        reactor,
        args,
        workdir,
        keep,
        scenario_path.name,
        (HOST, local_port),
        media_port,
        tcp,
        watchdog_s,
    )


def run_sipp(
    reactor,
    scenario: str | os.PathLike,
    remote: tuple[str, int] | None = None,
    **options: Any,
) -> defer.Deferred[SippResult]:
    """
    Run one SIPp to completion: L{start_sipp} with the same parameters.

    @return: a Deferred firing with the L{SippResult} whatever the exit code
        (call L{SippResult.assert_ok}), or failing with L{SippTimedOut}.
    """
    return start_sipp(reactor, scenario, remote, **options).done


#: The tone of L{echo_call}: 1 kHz, peak -12 dBFS (RMS about -15 dBFS).
ECHO_TONE_HZ = 1000.0
ECHO_PEAK_DBFS = -12.0


def echo_call(reactor, remote: tuple[str, int], sink: RtpSink, seconds: float = 1.0):
    """
    One call by C{uac_basic_rtp.xml}: C{seconds} of L{ECHO_TONE_HZ} tone
    (PCMU) played to C{remote}, whose RTP is heard by C{sink}, then BYE.

    @return: a Deferred firing with the L{SippResult}.
    """
    return run_sipp(
        reactor,
        "uac_basic_rtp.xml",
        remote=remote,
        rtp_sink=sink,
        files=media_files(tone_hz=ECHO_TONE_HZ, seconds=seconds, peak_dbfs=ECHO_PEAK_DBFS),
        pause_ms=round(seconds * 1000) + 300,
    )


def assert_echo(case: unittest.TestCase, sink: RtpSink, seconds: float = 1.0) -> None:
    """
    C{sink} heard L{echo_call}'s tone come back: nearly every frame, and in
    the middle of the stream (no start-up, no concealment tail) the same
    frequency at the same level (within 1 dB), pure.
    """
    frames = [f for f in sink.decoded_frames(0, audio.ulaw_decode) if f is not None]
    count = round(seconds * 50)
    case.assertGreaterEqual(len(frames), count - 2, len(frames))
    analysis = audio.analyse_tone(
        b"".join(frames[5 : count - 5]),
        expected_hz=ECHO_TONE_HZ,
        min_dbfs=ECHO_PEAK_DBFS - 3.01 - 1.0,
        max_dbfs=ECHO_PEAK_DBFS - 3.01 + 1.0,
        min_purity=0.98,
    )
    case.assertEqual(analysis.problems, [], analysis)


@defer.inlineCallbacks
def run_with_peer(
    reactor,
    peer_scenario: str | os.PathLike,
    scenario: str | os.PathLike,
    *,
    transport: str = "u1",
    calls: int = 1,
    peer_options: Mapping | None = None,
    **options,
):
    """
    Run C{scenario} against a SIPp server playing C{peer_scenario}.

    The peer starts first (same transport, same number of calls); the client
    starts once the peer listens.  When one side fails, the other is stopped
    L{PAIR_GRACE} seconds later unless it ends by itself, so a broken pair
    fails in well under the timeouts.  Used
    to prove client scenarios and the harness before the engine exists.

    @param peer_options: keyword arguments for the peer's L{start_sipp}.
    @param options: keyword arguments for the client's L{start_sipp}.
    @return: a Deferred firing with C{(client result, peer result)}.
    """
    peer = start_sipp(
        reactor, peer_scenario, None, transport=transport, calls=calls, **(peer_options or {})
    )
    try:
        yield peer.when_ready()
    except BaseException:
        yield peer.terminate()
        raise
    client = start_sipp(
        reactor, scenario, peer.address, transport=transport, calls=calls, **options
    )

    def stop_other(result, other: SippProcess):
        # The other side may still be finishing its part (the last ACK...):
        # it gets a moment before it is stopped.
        if (not isinstance(result, SippResult) or not result.ok) and other.running:
            later = reactor.callLater(PAIR_GRACE, other.stop)

            def ended(outcome):
                if later.active():
                    later.cancel()
                return outcome

            other.done.addBoth(ended)
        return result

    client.done.addBoth(stop_other, peer)
    peer.done.addBoth(stop_other, client)
    outcomes = yield defer.DeferredList([client.done, peer.done], consumeErrors=True)
    for succeeded, value in outcomes:
        if not succeeded:
            value.raiseException()
    return outcomes[0][1], outcomes[1][1]
