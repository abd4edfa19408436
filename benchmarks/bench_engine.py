"""
The real call engine under SIPp: how many calls per second it sets up, and
how much memory a live call costs.

Run from the repository root (needs SIPp: Debian's sip-tester, or $SIPP):

    python benchmarks/bench_engine.py                      # everything (~3 min)
    python benchmarks/bench_engine.py --only rate --rates 50,100,200 --seconds 40
    python benchmarks/bench_engine.py --only memory --calls 100,500,1000 --media

Two processes, each pinned to its own core with C{os.sched_setaffinity}: the
engine (C{_engine_server.py}: a L{SIPEngine} on 127.0.0.1 answering every
call, driven through stdin/stdout) on CPU 0, SIPp (and this script, which
mostly sleeps) on CPU 1.

Call setup rate: for each rate, a fresh engine; SIPp places calls at that
rate for C{--seconds} (INVITE with an SDP offer, 100/180/200, ACK, a pause
of C{--pause-ms}, BYE/200; no RTP).  Reported: calls placed, succeeded and
failed, SIPp's retransmissions, the datagrams the kernel dropped on the
engine's SIP socket (C{/proc/net/udp}), the engine's CPU (user + system, from
C{/proc}) over the run, its CPU time per call, how long it waited for a CPU
(the machine may be shared), the INVITE-to-200 times SIPp measured, and the
engine's full (generation 2) garbage collections with the longest one.  A
call SIPp gets no answer for within C{--recv-timeout} fails.  The highest
rate without a failed call, and the highest without a retransmission either,
close the table.  An ended call's INVITE and BYE server transactions stay for
64*T1 = 32 s (Timers L and J) to absorb retransmissions, so only steps of
C{--seconds 40} or more show the steady state of a rate.

Memory per live call (C{--memory rss,traced}): one engine process; after a
warm-up of a few calls, for each N of C{--calls}, SIPp sets up N calls at
C{--setup-rate} that all stay up C{--hold} seconds together.  The engine's
VmRSS (C{/proc/<pid>/status}, after a full C{gc.collect()}) is read before,
once all N are answered, and once they all ended.  A second engine process
does the same with C{tracemalloc} started after the warm-up, so the traced
figure is the Python memory allocated since then and still alive (it also
lists the source lines holding the most).  At the end each process waits (at
most C{--settle} seconds) until the transaction layer has let go of the last
transaction and the last RTP port has left quarantine, and is measured again:
traced memory back near its baseline means nothing leaked.  With C{--media}
each call also carries a second of PCMU RTP that the engine decodes and
echoes back (SIPp's C{play_pcap_audio}: root or CAP_NET_RAW).

Every child process is bounded in time and killed by its PID if it
overstays, and when this script ends for any reason.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
ENGINE_CPU = 0
SIPP_CPU = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Calls of the memory test's warm-up (imports, caches, the first sockets).
WARMUP_CALLS = 20

#: A UAC without media: INVITE (PCMU offer), 100/180 optional, 200 (timed:
#: SIPp's response time 1), ACK, pause (-d), BYE, 200.
SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="bench_engine call without media">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp bench" <sip:bench@[local_ip]:[local_port]>;tag=[pid]-[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:bench@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port+4] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv

    ]]>
  </send>

  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>

  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp bench" <sip:bench@[local_ip]:[local_port]>;tag=[pid]-[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:bench@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <pause/>

  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp bench" <sip:bench@[local_ip]:[local_port]>;tag=[pid]-[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

  <recv response="200" crlf="true"/>
</scenario>
"""

# -- child processes ----------------------------------------------------------

_children: set[subprocess.Popen] = set()


def _kill_children() -> None:
    """Kill every child still running, each by its own PID."""
    for proc in list(_children):
        if proc.poll() is None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _children.discard(proc)


def _spawn(args: list[str], **kw) -> subprocess.Popen:
    proc = subprocess.Popen(args, **kw)
    _children.add(proc)
    return proc


def _reap(proc: subprocess.Popen, timeout: float) -> None:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    _children.discard(proc)


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_wait(pid: int) -> float:
    """Seconds a process spent runnable but waiting for a CPU (schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_rss(pid: int, field: str = "VmRSS") -> int:
    """VmRSS (or another C{/proc/<pid>/status} field) of a process in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped on a UDP socket bound to C{port} (its full receive buffer)."""
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return 0
    for line in lines:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            return int(fields[-1])
    return 0


_handed_out: set[int] = set()


def free_port(span: tuple[int, ...] = (0,)) -> int:
    """An even UDP port P on 127.0.0.1 with every P+offset of C{span} free."""
    for _ in range(200):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((HOST, 0))
        base = probe.getsockname()[1] & ~1
        probe.close()
        ports = [base + offset for offset in span]
        if any(p in _handed_out or p > 65535 for p in ports):
            continue
        ok = True
        for p in ports:
            test = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                test.bind((HOST, p))
            except OSError:
                ok = False
            finally:
                test.close()
        if ok:
            _handed_out.update(ports)
            return base
    raise RuntimeError("no free port on 127.0.0.1")


class Engine:
    """One C{_engine_server.py} process, pinned to CPU 0."""

    def __init__(self, rtp_range: str, echo: bool, pin: bool, max_seconds: float) -> None:
        self.stderr = tempfile.TemporaryFile()
        args = [
            sys.executable,
            str(ROOT / "benchmarks" / "_engine_server.py"),
            "--rtp-range",
            rtp_range,
            "--max-seconds",
            str(max_seconds),
        ]
        if pin:
            args += ["--cpu", str(ENGINE_CPU)]
        if echo:
            args.append("--echo")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = _spawn(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env
        )
        self.pid = self.proc.pid
        ready = self._read(60)
        if not ready.get("ready"):
            raise RuntimeError(f"engine did not start: {ready}")
        self.sip_port = ready["sip_port"]

    def _read(self, timeout: float) -> dict:
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise TimeoutError(f"no answer from the engine in {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.seek(0)
            raise RuntimeError(f"engine exited: {self.stderr.read()[-2000:].decode()}")
        return json.loads(line)

    def ask(self, cmd: str, timeout: float = 30.0, **kw) -> dict:
        self.proc.stdin.write((json.dumps({"cmd": cmd, **kw}) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask("quit", timeout=15)
            except (OSError, TimeoutError, RuntimeError, ValueError):
                pass
        _reap(self.proc, 10)
        self.stderr.close()


class Sipp:
    """One SIPp UAC run (on CPU 1, like this script), in its own directory."""

    def __init__(
        self,
        port: int,
        *,
        calls: int,
        rate: float,
        limit: int,
        pause_ms: int,
        timeout_s: float,
        recv_timeout_ms: int,
        media: bool,
        keep: bool,
    ) -> None:
        binary = os.environ.get("SIPP") or shutil.which("sipp")
        if not binary:
            raise SystemExit("SIPp not found (install Debian's sip-tester or set $SIPP)")
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-engine-sipp-"))
        self.keep = keep
        if media:
            from tests.interop import sipp as harness

            scenario = "uac_basic_rtp.xml"
            shutil.copy(harness.SCENARIOS / scenario, self.workdir / scenario)
            for name, content in harness.media_files(seconds=1.0).items():
                (self.workdir / name).write_bytes(content)
        else:
            scenario = "bench_call.xml"
            (self.workdir / scenario).write_text(SCENARIO)
        self.media_port = free_port((0, 2, 4))
        # Where the engine sends its RTP (the SDP says [media_port+4]): a
        # socket that counts what arrives, so the echo can be checked.
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sink.bind((HOST, self.media_port + 4))
        self.sink.setblocking(False)
        self.sink_packets = 0
        self.args = [
            binary,
            f"{HOST}:{port}",
            "-sf", scenario,
            "-t", "u1",
            "-i", HOST, "-p", str(free_port()),
            "-mi", HOST, "-mp", str(self.media_port),
            "-cp", str(free_port()),
            "-m", str(calls), "-r", f"{rate:g}", "-l", str(limit), "-d", str(pause_ms),
            "-nostdin",
            "-recv_timeout", str(recv_timeout_ms),
            "-timeout", f"{max(1, round(timeout_s))}s", "-timeout_error",
            "-trace_stat", "-stf", "stat.csv", "-fd", "1",
            "-trace_rtt", "-rtt_freq", "1",
            "-trace_err", "-error_file", "errors.log",
        ]  # fmt: skip
        self.deadline = time.monotonic() + timeout_s + 10
        self.started = time.monotonic()
        self.proc = _spawn(
            self.args,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, TERM="dumb", LC_ALL="C"),
        )
        self.elapsed = 0.0

    def drain(self) -> None:
        for _ in range(100_000):
            try:
                self.sink.recv(2048)
            except BlockingIOError:
                return
            self.sink_packets += 1

    @property
    def running(self) -> bool:
        if self.proc.poll() is None and time.monotonic() > self.deadline:
            self.proc.send_signal(signal.SIGINT)  # SIPp writes its stats and exits
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.poll() is None

    def wait(self, step: float = 0.1) -> None:
        while self.running:
            self.drain()
            time.sleep(step)
        self.drain()
        self.elapsed = time.monotonic() - self.started
        _reap(self.proc, 5)

    def result(self) -> dict:
        """The final stat row's counters, the response times, the error lines."""
        stats = {}
        rows = [
            line
            for line in (self.workdir / "stat.csv").read_text(errors="replace").splitlines()
            if line.strip()
        ]
        if len(rows) >= 2:
            stats = dict(zip(rows[0].rstrip(";").split(";"), rows[-1].rstrip(";").split(";")))
        times = []
        for path in self.workdir.glob("*_rtt.csv"):
            for line in path.read_text(errors="replace").splitlines()[1:]:
                parts = line.split(";")
                if len(parts) >= 2:
                    try:
                        times.append(float(parts[1]))
                    except ValueError:
                        pass
        errors_path = self.workdir / "errors.log"
        errors = errors_path.read_text(errors="replace") if errors_path.exists() else ""

        def count(name: str) -> int:
            try:
                return int(stats.get(name, 0))
            except ValueError:
                return 0

        failures = {
            key[len("Failed") : -3]: count(key)
            for key in stats
            if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)"
        }
        return {
            "exit": self.proc.returncode,
            "placed": count("OutgoingCall(C)") or count("TotalCallCreated"),
            "ok": count("SuccessfulCall(C)"),
            "failed": count("FailedCall(C)"),
            "retrans": count("Retransmissions(C)"),
            "failures": {k: v for k, v in failures.items() if v},
            "rtt_ms": sorted(times),
            "error_lines": [line for line in errors.splitlines() if line.strip()][:3],
            "echo_packets": self.sink_packets,
        }

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        _reap(self.proc, 5)
        self.sink.close()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


# -- call setup rate ----------------------------------------------------------


def rate_step(rate: int, args: argparse.Namespace) -> dict:
    calls = max(1, round(rate * args.seconds))
    budget = args.seconds + args.pause_ms / 1000 + args.recv_timeout / 1000 + 30
    engine = Engine(args.rtp_range, echo=False, pin=args.pin, max_seconds=budget + 60)
    sipp = None
    try:
        cpu0, wait0, t0 = proc_cpu(engine.pid), proc_wait(engine.pid), time.monotonic()
        drops0 = udp_drops(engine.sip_port)
        rss0 = proc_rss(engine.pid)
        sipp = Sipp(
            engine.sip_port,
            calls=calls,
            rate=rate,
            limit=calls,
            pause_ms=args.pause_ms,
            timeout_s=budget,
            recv_timeout_ms=args.recv_timeout,
            media=False,
            keep=args.keep,
        )
        sipp.wait()
        # The last BYE was answered; let the engine finish what it was doing.
        after = engine.ask("measure")
        for _ in range(50):
            if after["stats"]["calls_active"] == 0 and after["stats"]["calls_pending"] == 0:
                break
            time.sleep(0.1)
            after = engine.ask("measure")
        wall = time.monotonic() - t0
        cpu = proc_cpu(engine.pid) - cpu0
        peak_kib = proc_rss(engine.pid, "VmHWM")
        waited = proc_wait(engine.pid) - wait0
        result = sipp.result()
        result.update(
            rate=rate,
            planned=calls,
            wall_s=wall,
            sipp_s=sipp.elapsed,
            cpu_s=cpu,
            cpu=cpu / wall,
            cpu_wait=waited / wall,
            us_per_call=cpu / max(1, result["ok"] + result["failed"]) * 1e6,
            engine=after["stats"],
            log=after["log"],
            problems=after["problems"],
            gc=after["gc"],
            gc_objects=after["gc_objects"],
            rss_start_kib=rss0,
            rss_peak_kib=peak_kib,
            drops=udp_drops(engine.sip_port) - drops0,
        )
        return result
    finally:
        if sipp is not None:
            sipp.close()
        engine.close()


def report_rates(args: argparse.Namespace) -> None:
    rates = [int(r) for r in args.rates.split(",") if r]
    print(
        f"\ncall setup rate: {args.seconds:g} s per rate, calls held {args.pause_ms} ms, "
        "no media" + (" (engine on CPU 0, SIPp on CPU 1)" if args.pin else ""),
        flush=True,
    )
    print(
        "  rate/s  placed      ok  failed  retrans  drops  engine CPU  CPU wait  µs CPU/call  "
        "INVITE→200 ms p50 / p99 / max   gen-2 GCs, longest ms",
        flush=True,
    )
    best = quiet = 0
    broken = noisy = False
    notes = []
    for rate in rates:
        r = rate_step(rate, args)
        rtt = r["rtt_ms"]
        clean = r["failed"] == 0 and r["ok"] == r["planned"] and r["exit"] == 0
        if clean and not broken:
            best = rate
        broken = broken or not clean
        if clean and r["retrans"] == 0 and not noisy:
            quiet = rate
        noisy = noisy or not clean or r["retrans"] > 0
        gc = r["gc"]
        print(
            f"  {rate:6d}  {r['placed']:6d}  {r['ok']:6d}  {r['failed']:6d}  {r['retrans']:7d}  "
            f"{r['drops']:5d}  {r['cpu']:10.0%}  {r['cpu_wait']:8.1%}  "
            f"{r['us_per_call']:11.0f}  "
            f"{_percentile(rtt, 0.5):8.1f} / {_percentile(rtt, 0.99):6.1f} / "
            f"{(rtt[-1] if rtt else float('nan')):6.1f}   "
            f"{gc['runs'][2]:9d}, {max(gc['longest_ms']):5.0f}",
            flush=True,
        )
        eng = r["engine"]
        detail = []
        if r["failures"]:
            detail.append(f"SIPp failures {r['failures']}")
        if eng["rejected"]:
            detail.append(f"engine rejected {eng['rejected']}")
        ended = {k: v for k, v in eng["ended"].items() if k != "remote_bye"}
        if ended:
            detail.append(f"engine ended {ended}")
        detail.append(
            f"RSS {r['rss_start_kib'] / 1024:.0f} MiB at the start, peak "
            f"{r['rss_peak_kib'] / 1024:.0f} MiB; {r['gc_objects']:,} objects tracked by the GC "
            "at the end"
        )
        warnings = r["log"].get("warn", 0) + r["log"].get("error", 0)
        if warnings:
            detail.append(f"engine logged {warnings} warnings/errors, e.g. {r['problems'][:1]}")
        if r["error_lines"] and not clean:
            detail.append(f"SIPp errors: {r['error_lines'][:2]}")
        if r["exit"] != 0:
            detail.append(f"SIPp exit {r['exit']} after {r['sipp_s']:.1f} s")
        if detail:
            notes.append(f"  {rate}/s: " + "; ".join(detail))
    for note in notes:
        print(note, flush=True)
    print(
        "  drops: datagrams the kernel dropped on the engine's SIP socket (receive buffer "
        "full);\n  engine CPU: user + system over the run (SIPp's first INVITE to the "
        "engine idle again)",
        flush=True,
    )
    print(f"  highest rate with no failed call: {best}/s", flush=True)
    print(f"  highest rate with no failed call and no retransmission: {quiet}/s", flush=True)


# -- memory per live call -----------------------------------------------------


def _wait_for(engine: Engine, condition, seconds: float, sipp: Sipp | None = None) -> dict:
    deadline = time.monotonic() + seconds
    m = engine.ask("measure")
    while not condition(m["stats"]) and time.monotonic() < deadline:
        if sipp is not None:
            sipp.drain()
        time.sleep(0.1)
        m = engine.ask("measure")
    return m


def memory_run(args: argparse.Namespace, traced: bool) -> dict:
    counts = [int(n) for n in args.calls.split(",") if n]
    rate = args.setup_rate
    longest = max(counts) * 2 / rate + args.hold + 30
    budget = WARMUP_CALLS / 50 + len(counts) * longest + args.settle + 60
    engine = Engine(args.rtp_range, echo=args.media, pin=args.pin, max_seconds=budget)
    out = {"rounds": [], "media": args.media, "traced": traced}
    sipp = None
    try:
        measure = lambda: engine.ask("measure", gc=True)  # noqa: E731
        out["cold"] = measure()
        sipp = Sipp(
            engine.sip_port,
            calls=WARMUP_CALLS,
            rate=50,
            limit=WARMUP_CALLS,
            pause_ms=200,
            timeout_s=30,
            recv_timeout_ms=args.recv_timeout,
            media=args.media,
            keep=args.keep,
        )
        sipp.wait()
        sipp.close()
        sipp = None
        _wait_for(engine, lambda s: s["calls_active"] == 0, 10)
        out["warm"] = engine.ask("trace") if traced else measure()
        for n in counts:
            before = measure()
            pause_ms = round((n / rate + args.hold) * 1000)
            sipp = Sipp(
                engine.sip_port,
                calls=n,
                rate=rate,
                limit=n,
                pause_ms=pause_ms,
                timeout_s=pause_ms / 1000 + n / rate + 30,
                recv_timeout_ms=args.recv_timeout,
                media=args.media,
                keep=args.keep,
            )
            _wait_for(engine, lambda s, n=n: s["calls_active"] >= n, n / rate + args.hold, sipp)
            up = measure()
            top = engine.ask("top", limit=8)["top"] if traced and n == max(counts) else []
            sipp.wait()
            result = sipp.result()
            sipp.close()
            sipp = None
            ended = _wait_for(
                engine, lambda s: s["calls_active"] == 0 and s["calls_pending"] == 0, 15
            )
            after = measure()
            top_after = engine.ask("top", limit=8)["top"] if traced and n == max(counts) else []
            out["rounds"].append(
                {
                    "n": n,
                    "before": before,
                    "up": up,
                    "after": after,
                    "sipp": result,
                    "top": top,
                    "top_after": top_after,
                    "ended": ended["stats"]["ended"],
                }
            )
        t0 = time.monotonic()
        settled = _wait_for(
            engine,
            lambda s: s["transactions"] == 0 and s["ports"]["in_quarantine"] == 0,
            args.settle,
        )
        out["settle_s"] = time.monotonic() - t0
        out["settled"] = measure()
        out["top_settled"] = engine.ask("top", limit=8)["top"] if traced else []
        out["settled_ok"] = settled["stats"]["transactions"] == 0
    finally:
        if sipp is not None:
            sipp.close()
        engine.close()
    return out


def _kib(m: dict, traced: bool) -> float:
    if traced:
        return m.get("traced", 0) / 1024
    return m["rss_kib"]


def report_memory(args: argparse.Namespace) -> None:
    media = "1 s of PCMU echoed per call" if args.media else "no media"
    kinds = [k for k in args.memory.split(",") if k]
    for traced in [kind == "traced" for kind in kinds]:
        what = "tracemalloc (Python memory allocated since the warm-up)" if traced else "VmRSS"
        print(
            f"\nmemory per live call, {what}: {media}, calls set up at {args.setup_rate}/s "
            f"and held together {args.hold:g} s",
            flush=True,
        )
        r = memory_run(args, traced)
        unit = "traced KiB" if traced else "RSS KiB"
        print(
            f"  cold start {_kib(r['cold'], traced):,.0f} {unit}; "
            f"after {WARMUP_CALLS} warm-up calls {_kib(r['warm'], traced):,.0f}",
            flush=True,
        )
        print(
            f"  calls  answered  {unit + ' before':>17}  {'N up':>9}  {'ended':>9}  KiB/call  "
            "ended KiB/call  gc objects/call",
            flush=True,
        )
        for rd in r["rounds"]:
            n = rd["n"]
            b, u, a = (_kib(rd[k], traced) for k in ("before", "up", "after"))
            up_calls = rd["up"]["stats"]["calls_active"]
            objects = (rd["up"]["gc_objects"] - rd["before"]["gc_objects"]) / max(1, up_calls)
            print(
                f"  {n:5d}  {up_calls:8d}  {b:17,.0f}  {u:9,.0f}  {a:9,.0f}  "
                f"{(u - b) / max(1, up_calls):8.1f}  {(a - b) / n:14.2f}  {objects:15.0f}",
                flush=True,
            )
            s = rd["sipp"]
            if s["failed"] or s["ok"] != n:
                print(f"         SIPp: {s['ok']} ok, {s['failed']} failed {s['failures']}")
            if args.media:
                print(f"         echoed RTP packets received: {s['echo_packets']}", flush=True)
        settled, base = r["settled"], r["warm"]
        if not r["settled_ok"]:
            print(f"  not settled within {args.settle:g} s (--settle)", flush=True)
        print(
            f"  settled {r['settle_s']:.0f} s later ({settled['stats']['transactions']} "
            f"transactions, {settled['stats']['ports']['in_quarantine']} ports resting): "
            f"{_kib(settled, traced):,.0f} {unit}, "
            f"{_kib(settled, traced) - _kib(base, traced):+,.0f} from after the warm-up",
            flush=True,
        )
        if traced:
            print(
                f"  tracemalloc's own memory at the end: "
                f"{settled['tracemalloc_overhead'] / 1024:,.0f} KiB",
                flush=True,
            )
            last = r["rounds"][-1]
            n = last["n"]
            for title, top, per in (
                (f"where the memory of {n} live calls is (bytes per call)", last["top"], n),
                (f"what {n} ended calls still hold (bytes per call)", last["top_after"], n),
                ("what is left once settled (bytes, in all)", r["top_settled"], 1),
            ):
                if top:
                    print(f"  {title}:", flush=True)
                    for entry in top:
                        print(f"    {entry['bytes'] / per:8.0f}  {entry['where']}", flush=True)
        logs = settled["log"]
        if settled["problems"]:
            print(f"  engine warnings/errors {logs}: {settled['problems']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,200,400", help="calls/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--pause-ms", type=int, default=1000, help="call length at a rate")
    parser.add_argument("--recv-timeout", type=int, default=8000, help="SIPp's, ms")
    parser.add_argument("--calls", default="100,500,1000", help="live calls, comma-separated")
    parser.add_argument("--setup-rate", type=int, default=250, help="calls/s of the memory test")
    parser.add_argument("--hold", type=float, default=2.0, help="s all N calls stay up")
    parser.add_argument("--settle", type=float, default=40.0, help="max s to wait at the end")
    parser.add_argument("--media", action="store_true", help="1 s of echoed RTP per call")
    parser.add_argument(
        "--memory",
        default="rss,traced",
        help="memory runs: rss (VmRSS), traced (tracemalloc), comma-separated",
    )
    parser.add_argument("--only", choices=("rate", "memory"), default=None)
    parser.add_argument("--rtp-range", default="20000-30000", help="the engine's RTP ports")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep SIPp's directories")
    args = parser.parse_args()
    if not set(args.memory.split(",")) <= {"rss", "traced", ""}:
        parser.error("--memory takes rss, traced or both")

    atexit.register(_kill_children)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.pin:
        os.sched_setaffinity(0, {SIPP_CPU})  # SIPp inherits it; the engine moves to 0
    load = os.getloadavg()
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}",
        flush=True,
    )
    try:
        if args.only in (None, "rate"):
            report_rates(args)
        if args.only in (None, "memory"):
            report_memory(args)
    finally:
        _kill_children()
    print(f"load average now {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
