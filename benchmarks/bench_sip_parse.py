"""
How fast the SIP message layer parses what a PBX sends.

Measures, on one core, for a typical INVITE (13 header fields and an SDP
offer, as an Asterisk trunk sends it):

  - parse: C{parse_message(datagram)}, which includes the eager validation
    of the start line, Via, From, To, Call-ID, CSeq, Max-Forwards and
    Content-Length;
  - parse + accessors: the same plus what a transaction layer reads next
    (top Via branch, CSeq, Call-ID, From and To tags), served from the
    values the eager validation cached;
  - round trip: C{parse_message(serialize(message))} of a parsed message;
  - parse with new caller and callee numbers in every message, so that no
    URI is found in the memo of C{parse_uri} (on a trunk the same few URIs
    recur, which is why the memo exists).

Every message differs in its Call-ID, branch and tags, as real traffic
does.  Each figure is the median of several runs of a few seconds' worth of
work, timed with C{time.perf_counter}.

Run: C{python benchmarks/bench_sip_parse.py [--runs N] [--seconds S]}
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable

from roomkit_sip.sip import Request, Response, parse_message, serialize

_SDP = (
    "v=0\r\n"
    "o=root 1821712396 1821712396 IN IP4 203.0.113.10\r\n"
    "s=Asterisk PBX 20.5.0\r\n"
    "c=IN IP4 203.0.113.10\r\n"
    "t=0 0\r\n"
    "m=audio 17324 RTP/AVP 0 8 9 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=maxptime:150\r\n"
    "a=sendrecv\r\n"
)


def invite(n: int, *, new_numbers: bool = False) -> bytes:
    """
    The C{n}th INVITE of a run: unique Call-ID, branch and From tag.  With
    C{new_numbers} the caller and callee numbers change too, so that every
    URI misses L{roomkit_sip.sip.parse_uri}'s memo (the worst case).
    """
    body = _SDP.encode()
    caller, callee = (
        (f"+1555{n:07d}", f"+1556{n:07d}") if new_numbers else ("+15559870000", "+15551230000")
    )
    return (
        f"INVITE sip:{callee}@198.51.100.20:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKPj{n:08x}a3c1;rport\r\n"
        f"Max-Forwards: 70\r\n"
        f'From: "Alice Example" <sip:{caller}@203.0.113.10>;tag=as{n:08x}\r\n'
        f"To: <sip:{callee}@198.51.100.20>\r\n"
        f"Contact: <sip:{caller}@203.0.113.10:5060>\r\n"
        f"Call-ID: {n:016x}0c5c7f2e@203.0.113.10\r\n"
        f"CSeq: 102 INVITE\r\n"
        f"User-Agent: Asterisk PBX 20.5.0\r\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 GMT\r\n"
        f"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH\r\n"
        f"Supported: replaces, timer\r\n"
        f"Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n"
    ).encode() + body


def _parse(datagrams: list[bytes]) -> None:
    for data in datagrams:
        parse_message(data)


def _parse_and_read(datagrams: list[bytes]) -> None:
    for data in datagrams:
        message = parse_message(data)
        message.top_via.branch  # noqa: B018
        message.cseq  # noqa: B018
        message.call_id  # noqa: B018
        message.from_.tag  # noqa: B018
        message.to.tag  # noqa: B018


def _round_trip(messages: list[Request | Response]) -> None:
    for message in messages:
        parse_message(serialize(message))


def _rate(work: Callable[[list], None], batch: list, seconds: float) -> float:
    """Operations per second over at least C{seconds} of repeated batches."""
    done = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        work(batch)
        done += len(batch)
        elapsed = time.perf_counter() - start
    return done / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    options = parser.parse_args(argv)
    batch = [invite(n) for n in range(10_000)]
    sys.stdout.write(
        f"Python {platform.python_version()} on {platform.machine()}; typical INVITE "
        f"{len(batch[0])} bytes; median of {options.runs} runs of {options.seconds} s\n"
    )
    messages = [parse_message(data) for data in batch]
    fresh = [invite(n, new_numbers=True) for n in range(len(batch))]
    cases = [
        ("parse_message", _parse, batch),
        ("parse_message, every URI new", _parse, fresh),
        ("parse_message + transaction accessors", _parse_and_read, batch),
        ("serialize + parse_message (round trips)", _round_trip, messages),
    ]
    for label, work, items in cases:
        rates = [_rate(work, items, options.seconds) for _ in range(options.runs)]
        sys.stdout.write(
            f"{label:42} {statistics.median(rates):>10,.0f}/s"
            f"  (min {min(rates):,.0f}, max {max(rates):,.0f})\n"
        )


if __name__ == "__main__":
    main()
