"""
A small SIP phone on asyncio, to call the backend over 127.0.0.1 in the
integration tests.

It is written from RFC 3261, 3264, 3550 and 4733 directly and shares no code
with C{roomkit_sip}, so a mistake in the package cannot hide itself in the
test.  It does what a softphone does on a plain call: INVITE with a PCMU
offer (plus telephone-event), retransmit until answered, ACK the 200 (and
its retransmissions), send and record RTP, press keys as RFC 4733 events,
answer the far end's BYE or send its own.  Nothing more: no
authentication, no forking, no TCP.
"""

from __future__ import annotations

import asyncio
import random
import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # Python 3.11/3.12; audioop-lts on 3.13

__all__ = ["Answer", "RtpPacket", "SipCaller"]

T1 = 0.5
FRAME_S = 0.02
DTMF_PT = 101
DTMF_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet as it arrived, with the loop time of its arrival."""

    arrival: float
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


@dataclass
class Answer:
    """What the 200 OK said."""

    status: int
    to_tag: str
    contact: str
    rtp_addr: tuple[str, int]
    payload_types: list[int]
    sdp: str


@dataclass
class _Dialog:
    call_id: str
    from_tag: str
    to_tag: str = ""
    remote_target: str = ""
    cseq: int = 1
    route: list[str] = field(default_factory=list)


def _parse(data: bytes) -> tuple[str, dict[str, list[str]], str]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers, body.decode("utf-8", "replace")


def _tag(value: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", value)
    return match.group(1) if match else ""


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: object) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_datagram(data, addr)  # type: ignore[operator]


class SipCaller:
    """
    One phone, one call at a time.

    @ivar received: every RTP packet received, in order.
    @ivar byes: BYE requests the far end sent us (first lines + headers).
    """

    def __init__(self, server: tuple[str, int], user: str = "alice") -> None:
        self.server = server
        self.user = user
        self.received: list[RtpPacket] = []
        self.byes: list[dict[str, list[str]]] = []
        self._responses: asyncio.Queue[tuple[str, dict[str, list[str]], str]] = asyncio.Queue()
        self._sip: _Udp | None = None
        self._rtp: _Udp | None = None
        self._dialog: _Dialog | None = None
        self._answer: Answer | None = None
        self._seq = random.randrange(1 << 15)
        self._ts = random.randrange(1 << 31)
        self._ssrc = random.randrange(1 << 31)
        self._loop = asyncio.get_running_loop()
        self.ended = asyncio.Event()
        self._arrived = asyncio.Event()

    # -- sockets

    async def open(self) -> None:
        loop = self._loop
        _, self._sip = await loop.create_datagram_endpoint(
            lambda: _Udp(self._sip_datagram), local_addr=("127.0.0.1", 0)
        )
        _, self._rtp = await loop.create_datagram_endpoint(
            lambda: _Udp(self._rtp_datagram), local_addr=("127.0.0.1", 0)
        )

    def close(self) -> None:
        for endpoint in (self._sip, self._rtp):
            if endpoint is not None and endpoint.transport is not None:
                endpoint.transport.close()

    @property
    def sip_port(self) -> int:
        assert self._sip is not None and self._sip.transport is not None
        return int(self._sip.transport.get_extra_info("sockname")[1])

    @property
    def rtp_port(self) -> int:
        assert self._rtp is not None and self._rtp.transport is not None
        return int(self._rtp.transport.get_extra_info("sockname")[1])

    # -- SIP

    def _send(self, text: str) -> None:
        assert self._sip is not None and self._sip.transport is not None
        self._sip.transport.sendto(text.encode(), self.server)

    def _request(
        self, method: str, uri: str, cseq: int, branch: str, body: str = "", extra: str = ""
    ) -> str:
        dialog = self._dialog
        assert dialog is not None
        to = f"<sip:bot@{self.server[0]}:{self.server[1]}>"
        if dialog.to_tag:
            to += f";tag={dialog.to_tag}"
        content = "Content-Type: application/sdp\r\n" if body else ""
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.sip_port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f'From: "Alice" <sip:{self.user}@127.0.0.1:{self.sip_port}>;tag={dialog.from_tag}\r\n'
            f"To: {to}\r\n"
            f"Call-ID: {dialog.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{self.user}@127.0.0.1:{self.sip_port}>\r\n"
            f"{extra}{content}Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )

    def _offer(self) -> str:
        return (
            "v=0\r\n"
            f"o=- 1 1 IN IP4 127.0.0.1\r\n"
            "s=caller\r\n"
            "c=IN IP4 127.0.0.1\r\n"
            "t=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0 {DTMF_PT}\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            f"a=rtpmap:{DTMF_PT} telephone-event/8000\r\n"
            f"a=fmtp:{DTMF_PT} 0-16\r\n"
            "a=ptime:20\r\n"
            "a=sendrecv\r\n"
        )

    async def invite(
        self, x_headers: dict[str, str] | None = None, timeout: float = 5.0
    ) -> Answer:
        """
        Call the server and wait for its final answer; ACK a 2xx.

        @raise AssertionError: for a non-2xx final answer.
        """
        self._dialog = _Dialog(
            call_id=f"{random.getrandbits(64):x}@127.0.0.1", from_tag=f"{random.getrandbits(32):x}"
        )
        branch = f"z9hG4bK{random.getrandbits(48):x}"
        extra = "".join(f"{k}: {v}\r\n" for k, v in (x_headers or {}).items())
        uri = f"sip:bot@{self.server[0]}:{self.server[1]}"
        invite = self._request("INVITE", uri, 1, branch, self._offer(), extra)
        deadline = self._loop.time() + timeout
        interval, provisional = T1, False
        self._send(invite)
        while True:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                raise TimeoutError("no final answer to the INVITE")
            try:
                start, headers, body = await asyncio.wait_for(
                    self._responses.get(), min(remaining, interval)
                )
            except TimeoutError:
                if not provisional:
                    self._send(invite)
                    interval = min(interval * 2, 4.0)
                continue
            status = int(start.split()[1])
            if status < 200:
                provisional = True
                continue
            break
        dialog = self._dialog
        dialog.to_tag = _tag(headers["to"][0])
        if status >= 300:
            self._send_ack_for_failure(branch, uri)
            raise AssertionError(f"call refused: {start}")
        contact = re.search(r"<([^>]+)>", headers["contact"][0])
        dialog.remote_target = contact.group(1) if contact else uri
        self._answer = _answer(status, dialog.to_tag, dialog.remote_target, body)
        self._ack()
        return self._answer

    def _ack(self) -> None:
        dialog = self._dialog
        assert dialog is not None
        branch = f"z9hG4bK{random.getrandbits(48):x}"
        self._send(self._request("ACK", dialog.remote_target, 1, branch))

    def _send_ack_for_failure(self, branch: str, uri: str) -> None:
        self._send(self._request("ACK", uri, 1, branch))

    async def bye(self, timeout: float = 5.0) -> int:
        """Hang up; the status of the answer."""
        dialog = self._dialog
        assert dialog is not None
        dialog.cseq += 1
        branch = f"z9hG4bK{random.getrandbits(48):x}"
        bye = self._request("BYE", dialog.remote_target, dialog.cseq, branch)
        deadline = self._loop.time() + timeout
        self._send(bye)
        while True:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                raise TimeoutError("no answer to the BYE")
            try:
                start, headers, _ = await asyncio.wait_for(
                    self._responses.get(), min(remaining, T1)
                )
            except TimeoutError:
                self._send(bye)
                continue
            if headers.get("cseq", [""])[0].endswith("BYE") and int(start.split()[1]) >= 200:
                self.ended.set()
                return int(start.split()[1])

    def _sip_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        start, headers, body = _parse(data)
        if start.startswith("SIP/2.0"):
            cseq = headers.get("cseq", [""])[0]
            if cseq.endswith("INVITE") and start.split()[1].startswith("2") and self._answer:
                self._ack()  # a retransmitted 200: our ACK was lost
                return
            self._responses.put_nowait((start, headers, body))
            return
        method = start.split()[0]
        if method == "BYE":
            self.byes.append(headers)
            self.ended.set()
        if method != "ACK":
            self._reply(
                headers, 200, "OK", self._answer.sdp if method == "INVITE" and self._answer else ""
            )

    def _reply(
        self, headers: dict[str, list[str]], status: int, reason: str, sdp: str = ""
    ) -> None:
        vias = "".join(f"Via: {v}\r\n" for v in headers.get("via", []))
        content = "Content-Type: application/sdp\r\n" if sdp else ""
        self._send(
            f"SIP/2.0 {status} {reason}\r\n{vias}"
            f"From: {headers['from'][0]}\r\nTo: {headers['to'][0]}\r\n"
            f"Call-ID: {headers['call-id'][0]}\r\nCSeq: {headers['cseq'][0]}\r\n"
            f"{content}Content-Length: {len(sdp.encode())}\r\n\r\n{sdp}"
        )

    # -- RTP

    def _rtp_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        pt = data[1] & 0x7F
        if 72 <= pt <= 76:
            return  # RTCP on the RTP port (rtcp-mux): not audio
        seq, ts, ssrc = struct.unpack("!HII", data[2:12])
        offset = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10:
            (words,) = struct.unpack("!H", data[offset + 2 : offset + 4])
            offset += 4 + 4 * words
        payload = data[offset:]
        if data[0] & 0x20 and payload:
            payload = payload[: -payload[-1]]
        self.received.append(
            RtpPacket(self._loop.time(), pt, bool(data[1] & 0x80), seq, ts, ssrc, payload)
        )
        self._arrived.set()

    def _rtp_send(
        self, pt: int, payload: bytes, marker: bool = False, ts: int | None = None
    ) -> None:
        assert self._rtp is not None and self._rtp.transport is not None and self._answer
        self._seq = (self._seq + 1) & 0xFFFF
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, self._seq,
            self._ts if ts is None else ts, self._ssrc,
        )  # fmt: skip
        self._rtp.transport.sendto(header + payload, self._answer.rtp_addr)

    async def _at(self, due: float) -> None:
        """Wait for loop time C{due}: the phone's 20 ms media clock."""
        ready = self._loop.create_future()
        handle = self._loop.call_at(due, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            handle.cancel()

    async def talk(self, pcm: bytes) -> None:
        """Send 8 kHz PCM as PCMU in real time, 20 ms a packet."""
        frame = 320
        start = self._loop.time()
        for n, offset in enumerate(range(0, len(pcm) - frame + 1, frame)):
            await self._at(start + n * FRAME_S)
            self._rtp_send(0, audioop.lin2ulaw(pcm[offset : offset + frame], 2))
            self._ts = (self._ts + 160) & 0xFFFFFFFF

    async def press(self, digit: str, duration_ms: int = 160) -> None:
        """One key press as RFC 4733 events: updates every 20 ms, the end sent thrice."""
        event = DTMF_CODES[digit]
        ts = self._ts
        steps = max(1, duration_ms // 20)
        start = self._loop.time()
        for step in range(1, steps + 1):
            await self._at(start + (step - 1) * FRAME_S)
            duration = step * 160
            end = step == steps
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
            for _ in range(3 if end else 1):
                self._rtp_send(DTMF_PT, payload, marker=step == 1, ts=ts)
        self._ts = (ts + steps * 160) & 0xFFFFFFFF

    async def wait_rtp(self, predicate: Callable[[list[RtpPacket]], bool], timeout: float) -> None:
        """
        Wait until C{predicate(received)} holds, checked at each packet.

        @raise AssertionError: if it does not within C{timeout} seconds.
        """
        deadline = self._loop.time() + timeout
        while not predicate(self.received):
            self._arrived.clear()
            remaining = deadline - self._loop.time()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(remaining, 0))
            except TimeoutError:
                raise AssertionError(
                    f"the RTP received ({len(self.received)} packets) never met the condition"
                ) from None

    def audio(self, since: float = 0.0) -> bytes:
        """The PCMU audio received (after loop time C{since}), decoded."""
        return b"".join(
            audioop.ulaw2lin(p.payload, 2)
            for p in self.received
            if p.payload_type == 0 and p.arrival >= since
        )


def _answer(status: int, to_tag: str, contact: str, sdp: str) -> Answer:
    connection = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    media = re.search(r"^m=audio (\d+) RTP/AVP ([\d ]+)", sdp, re.M)
    if connection is None or media is None:
        raise AssertionError(f"unusable SDP answer:\n{sdp}")
    return Answer(
        status=status,
        to_tag=to_tag,
        contact=contact,
        rtp_addr=(connection.group(1), int(media.group(1))),
        payload_types=[int(pt) for pt in media.group(2).split()],
        sdp=sdp,
    )
