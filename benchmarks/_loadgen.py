"""
The far end of C{bench_media.py}'s load test, in its own process (and core):
sends one 20 ms RTP packet to each of N engine ports every 20 ms, receives
the engine's RTP, and reports what it saw as one JSON line.

Plain sockets and C{select}, no Twisted: the load generator must stay cheap
so that the engine, not it, is what runs out of CPU.  It is driven by
C{bench_media.py} through stdin/stdout (C{--cpu N} pins it to CPU N):

  1. it binds C{--sockets} UDP sockets on 127.0.0.1 and prints their ports
     as a JSON line;
  2. it reads one JSON line: C{{"targets": [port, ...], "start": t0,
     "seconds": d, "warmup": w, "payload_type": pt}};
  3. from wall-clock time C{t0} for C{d} seconds it sends and receives,
     then prints its report and exits.  It never runs past C{t0 + d + 2}.

Each packet's RTP timestamp is the wall-clock send time in 1/8000 s since
C{t0}, so the engine can tell how long a packet took to be delivered.  For
the engine's packets it tracks, per source, sequence gaps (loss) and the
transit delay relative to that stream's quickest packet (lateness beyond
the stream's own constant offset).
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
FRAME = 0.02
_HEADER = struct.Struct("!BBHII")
_BUFFER = 4 * 1024 * 1024


def _bind(count: int) -> list[socket.socket]:
    out = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER)
        sock.bind((HOST, 0))
        sock.setblocking(False)
        out.append(sock)
    return out


def _run_delay() -> float:
    """Seconds spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class _Stream:
    """What arrived from one engine port."""

    __slots__ = ("packets", "lost", "last_seq", "best", "delays")

    def __init__(self) -> None:
        self.packets = 0
        self.lost = 0
        self.last_seq: int | None = None
        self.best: float | None = None
        self.delays: list[float] = []


def _option(name: str, default: int | None) -> int | None:
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


def run() -> None:
    cpu = _option("--cpu", None)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    sockets = _bind(_option("--sockets", 4) or 4)
    print(json.dumps({"ports": [s.getsockname()[1] for s in sockets]}), flush=True)
    order = json.loads(sys.stdin.readline())
    targets = [(HOST, port) for port in order["targets"]]
    t0 = float(order["start"])
    end = t0 + float(order["seconds"])
    counted_from = t0 + float(order["warmup"])
    pt = int(order["payload_type"])
    payload = bytes(range(32, 192))  # 160 octets: 20 ms of G.711 or G.722
    ssrcs = [0x10000 + i for i in range(len(targets))]
    senders = [sockets[i % len(sockets)].sendto for i in range(len(targets))]
    streams: dict[int, _Stream] = {}
    sent = send_errors = 0
    late_ticks = 0
    tick = 0
    deadline = end + 2.0
    waited, started = _run_delay(), time.time()
    now = time.time()
    while now < t0:
        time.sleep(min(0.01, t0 - now))
        now = time.time()
    while True:
        now = time.time()
        if now >= end or now >= deadline:
            break
        due = t0 + tick * FRAME
        if now >= due:
            if now - due > FRAME:
                late_ticks += 1
            seq = tick & 0xFFFF
            for i, target in enumerate(targets):
                ts = int((time.time() - t0) * 8000) & 0xFFFFFFFF
                try:
                    senders[i](_HEADER.pack(0x80, pt, seq, ts, ssrcs[i]) + payload, target)
                    sent += 1
                except OSError:
                    send_errors += 1
            tick += 1
            continue
        readable, _, _ = select.select(sockets, [], [], max(0.0, due - time.time()))
        for sock in readable:
            for _ in range(4096):  # bounded drain
                try:
                    data, addr = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                arrival = time.time()
                if len(data) < 12 or 200 <= data[1] <= 204 or arrival < counted_from:
                    continue  # RTCP, or warm-up
                _, _, seq, ts, _ = _HEADER.unpack_from(data)
                stream = streams.get(addr[1])
                if stream is None:
                    stream = streams[addr[1]] = _Stream()
                stream.packets += 1
                if stream.last_seq is not None:
                    gap = (seq - stream.last_seq) & 0xFFFF
                    if 1 < gap < 0x8000:
                        stream.lost += gap - 1
                stream.last_seq = seq
                delay = arrival - ts / 8000.0
                if stream.best is None or delay < stream.best:
                    stream.best = delay
                stream.delays.append(delay)
    received = sum(s.packets for s in streams.values())
    lateness = sorted(d - s.best for s in streams.values() for d in s.delays if s.best is not None)

    def pct(p: float) -> float:
        return lateness[min(len(lateness) - 1, int(p * len(lateness)))] * 1000 if lateness else 0.0

    report = {
        "sent": sent,
        "send_errors": send_errors,
        "late_ticks": late_ticks,
        "ticks": tick,
        "received": received,
        "streams": len(streams),
        "lost": sum(s.lost for s in streams.values()),
        "late_20ms": sum(1 for x in lateness if x > 0.020),
        "jitter_p50_ms": pct(0.5),
        "jitter_p99_ms": pct(0.99),
        "jitter_max_ms": lateness[-1] * 1000 if lateness else 0.0,
        "cpu_s": sum(os.times()[:2]),
        "cpu_wait": (_run_delay() - waited) / max(1e-9, time.time() - started),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    run()
