"""
The engine side of C{bench_engine.py}, in its own process (and core): a real
L{SIPEngine} on 127.0.0.1 that answers every call, driven through
stdin/stdout with one JSON object per line.

  1. It starts the engine (SIP on an OS-chosen UDP port, RTP ports in
     C{--rtp-range}) and prints C{{"ready": true, "sip_port": P, "pid": ...}}.
  2. Each line read is a command; each gets exactly one JSON line back:

       - C{{"cmd": "measure", "gc": true}}: (after a full C{gc.collect()}
         when asked) VmRSS, CPU time, the engine's C{stats()}, the log
         levels counted so far, the garbage collector's runs per
         generation and its longest pauses (our own collections excluded)
         and, once tracing, the traced Python memory;
       - C{{"cmd": "trace"}}: start C{tracemalloc} now (one frame per
         trace), so that only what is allocated from here on is traced;
       - C{{"cmd": "top", "limit": 8}}: the source lines holding the most
         traced memory now, compared with the snapshot taken at C{trace};
       - C{{"cmd": "quit"}}: stop the engine, answer, exit.

The handler answers every INVITE at once (C{incoming_call} returns C{None})
and, with C{--echo}, sends every decoded frame straight back
(C{send_audio_now}), like the interop tests' echo application.

Logging goes to an observer that only counts events by level and keeps the
first few warnings and errors: the engine logs one line per call start and
end, and without an observer Twisted would buffer the events (and keep what
they reference alive).  Nothing is printed but the JSON answers.

The process pins itself to C{--cpu}, stops by itself after C{--max-seconds}
and when its stdin closes (the benchmark that started it is gone).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
KEPT_MESSAGES = 5


def rss_kib(pid: int | str = "self") -> int:
    """VmRSS of a process in KiB (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class GCTimer:
    """Counts the collector's runs per generation and times the longest."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.longest = [0.0, 0.0, 0.0]
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        import time

        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        generation = info.get("generation", 2)
        self.runs[generation] += 1
        self.longest[generation] = max(self.longest[generation], took)
        self.total += took

    def report(self) -> dict:
        return {
            "runs": self.runs,
            "longest_ms": [t * 1000 for t in self.longest],
            "total_s": self.total,
        }


class LogCounter:
    """A log observer that counts events per level and keeps a few problems."""

    def __init__(self) -> None:
        self.levels: dict[str, int] = {}
        self.problems: list[str] = []

    def __call__(self, event: dict) -> None:
        from twisted.logger import LogLevel, formatEvent

        level = event.get("log_level")
        name = level.name if level is not None else "none"
        self.levels[name] = self.levels.get(name, 0) + 1
        if level in (LogLevel.warn, LogLevel.error, LogLevel.critical):
            if len(self.problems) < KEPT_MESSAGES:
                text = formatEvent(event)
                failure = event.get("log_failure")
                if failure is not None:
                    text += f" ({failure.getErrorMessage()})"
                self.problems.append(f"{name}: {text}"[:300])


def main() -> None:
    parser = argparse.ArgumentParser(description="engine process of bench_engine.py")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--rtp-range", default="20000-30000")
    parser.add_argument("--echo", action="store_true", help="echo decoded audio back")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    from twisted.internet import reactor, stdio
    from twisted.logger import globalLogBeginner
    from twisted.protocols.basic import LineReceiver

    from roomkit_sip.engine import CallHandler, EngineConfig, SIPEngine

    counter = LogCounter()
    collector = GCTimer()
    gc.callbacks.append(collector)
    globalLogBeginner.beginLoggingTo([counter], discardBuffer=True, redirectStandardIO=False)

    class Answer(CallHandler):
        """Answers every call; echoes its audio when asked to."""

        def incoming_call(self, incoming):
            return None

        if args.echo:

            def audio_received(self, call, pcm):
                call.send_audio_now(pcm)

    start, end = (int(p) for p in args.rtp_range.split("-"))
    config = EngineConfig(
        sip_host=HOST,
        sip_port=0,
        rtp_ip=HOST,
        rtp_port_start=start,
        rtp_port_end=end,
    )
    engine = SIPEngine(reactor, config, Answer())
    state: dict = {"tracing": False, "baseline": None}

    def measure(collect: bool) -> dict:
        if collect:
            gc.callbacks.remove(collector)  # our own collections are not the engine's
            gc.collect()
            gc.callbacks.append(collector)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        report = {
            "rss_kib": rss_kib(),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "stats": engine.stats(),
            "log": dict(counter.levels),
            "problems": list(counter.problems),
            "gc_objects": len(gc.get_objects()),
            "gc": collector.report(),
        }
        if state["tracing"]:
            import tracemalloc

            current, peak = tracemalloc.get_traced_memory()
            report["traced"] = current
            report["traced_peak"] = peak
            report["tracemalloc_overhead"] = tracemalloc.get_tracemalloc_memory()
        return report

    def top(limit: int) -> list:
        import tracemalloc

        if not state["tracing"]:
            return []
        now = tracemalloc.take_snapshot()
        stats = now.compare_to(state["baseline"], "lineno")
        out = []
        for stat in stats[:limit]:
            frame = stat.traceback[0]
            name = frame.filename
            for prefix in (str(ROOT) + os.sep, "site-packages" + os.sep, "lib" + os.sep):
                if prefix in name:
                    name = name.split(prefix, 1)[1]
                    break
            out.append({"where": f"{name}:{frame.lineno}", "bytes": stat.size_diff})
        return out

    class Control(LineReceiver):
        delimiter = b"\n"

        def reply(self, obj: dict) -> None:
            self.sendLine(json.dumps(obj).encode())

        def lineReceived(self, line: bytes) -> None:
            try:
                order = json.loads(line)
                cmd = order.get("cmd")
                if cmd == "measure":
                    self.reply(measure(bool(order.get("gc"))))
                elif cmd == "trace":
                    import tracemalloc

                    measure(True)
                    if not state["tracing"]:
                        tracemalloc.start(1)
                        state["tracing"] = True
                    state["baseline"] = tracemalloc.take_snapshot()
                    self.reply(measure(False))
                elif cmd == "top":
                    self.reply({"top": top(int(order.get("limit", 8)))})
                elif cmd == "quit":
                    d = engine.stop()
                    d.addBoth(lambda _: self.reply({"stopped": True}))
                    d.addBoth(lambda _: reactor.callLater(0.05, reactor.stop))
                else:
                    self.reply({"error": f"unknown command {cmd!r}"})
            except Exception as e:  # the benchmark reads the answer
                self.reply({"error": repr(e)})

        def connectionLost(self, reason=None) -> None:
            if reactor.running:
                engine.stop().addBoth(lambda _: reactor.stop())

    def started(_):
        control = Control()
        stdio.StandardIO(control)
        control.reply({"ready": True, "sip_port": engine.local_sip_addr[1], "pid": os.getpid()})

    def failed(failure):
        os.write(1, (json.dumps({"error": failure.getErrorMessage()}) + "\n").encode())
        reactor.stop()

    def start():
        engine.start().addCallbacks(started, failed)

    reactor.callWhenRunning(start)
    reactor.callLater(args.max_seconds, reactor.stop)  # hard bound
    reactor.run()


if __name__ == "__main__":
    main()
