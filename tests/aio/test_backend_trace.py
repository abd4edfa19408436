"""
Protocol traces (L{roomkit_sip._aio.trace}): digest responses masked, and
the INVITE / 200 OK / BYE traces with roomkit's summaries and fields.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from roomkit_sip._aio import calls
from roomkit_sip._aio.bridge import as_awaitable
from roomkit_sip._aio.trace import redact_digest
from tests.aio._fake_engine import answer, run_backend

INVITE = (
    b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\n"
    b"From: <sip:alice@127.0.0.1:5070>;tag=1\r\n"
    b'Authorization: Digest username="alice", realm="roomkit", nonce="n0nce", '
    b'uri="sip:bot@127.0.0.1", response="6629fae49393a05397450978507c4ef1", algorithm=MD5\r\n'
    b"Content-Length: 0\r\n\r\n"
)


class RedactTests(SynchronousTestCase):
    def test_masks_response_only(self) -> None:
        """
        The digest C{response} is masked; user name, realm, nonce and URI
        stay for debugging.
        """
        redacted = redact_digest(INVITE)
        assert isinstance(redacted, bytes)
        self.assertNotIn(b"6629fae4", redacted)
        self.assertIn(b'response="<redacted>"', redacted)
        for kept in (b'username="alice"', b'realm="roomkit"', b'nonce="n0nce"', b"algorithm=MD5"):
            self.assertIn(kept, redacted)

    def test_forms(self) -> None:
        """
        Text and bytes, quoted and bare responses, several credentials and
        any case are masked; C{None} passes.
        """
        text = (
            INVITE.decode() + "Proxy-Authorization: Digest RESPONSE = abcdef0123, nc=00000001\r\n"
        )
        redacted = redact_digest(text)
        assert isinstance(redacted, str)
        self.assertEqual(redacted.count('"<redacted>"'), 2)
        self.assertNotIn("abcdef0123", redacted)
        self.assertIn("nc=00000001", redacted)
        self.assertIsNone(redact_digest(None))
        self.assertEqual(redact_digest(b"BYE sip:x SIP/2.0\r\n\r\n"), b"BYE sip:x SIP/2.0\r\n\r\n")


class TraceTests(SynchronousTestCase):
    """
    Traces emitted around a call.
    """

    def test_inbound_call(self) -> None:
        """
        An answered call emits its INVITE (raw, redacted) then our 200 OK;
        a remote BYE emits C{BYE from <caller>} with its Reason.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            traces: list[Any] = []
            backend.set_trace_emitter(traces.append)
            call = await answer(backend, request=INVITE, x_headers={"X-Room-ID": "r9"})
            backend.fake_engine.end(call, "remote_bye", bye_reason={"cause": 16, "text": "Bye"})
            return traces

        invite, ok, bye = run_backend(scenario)
        for trace in (invite, ok, bye):
            self.assertIsInstance(trace, rk.ProtocolTrace)
            self.assertEqual(
                (trace.protocol, trace.channel_id, trace.room_id), ("sip", "voice", "r9")
            )
            self.assertEqual(trace.session_id, invite.session_id)
        self.assertEqual(
            (invite.direction, invite.summary),
            ("inbound", "INVITE from sip:alice@127.0.0.1:5070 to sip:bot@127.0.0.1"),
        )
        self.assertIn(b'response="<redacted>"', invite.raw)
        self.assertEqual(invite.metadata["x_headers"], {"X-Room-ID": "r9"})
        self.assertEqual(invite.metadata["call_id"], invite.session_id)
        self.assertEqual(
            (ok.direction, ok.summary), ("outbound", "200 OK (codec=8000Hz, rtp_clock=8000Hz)")
        )
        self.assertEqual(ok.metadata["codec_sample_rate"], 8000)
        self.assertEqual(
            (bye.direction, bye.summary), ("inbound", "BYE from sip:alice@127.0.0.1:5070")
        )
        self.assertEqual(bye.metadata["bye_reason"], {"cause": 16, "text": "Bye"})

    def test_local_bye(self) -> None:
        """
        C{disconnect()} emits C{BYE (local hangup)}, outbound.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            traces: list[Any] = []
            call = await answer(backend, codec="G722")
            backend.set_trace_emitter(traces.append)
            await backend.disconnect(backend.get_session(call.session_id))
            return [(t.direction, t.summary) for t in traces]

        self.assertEqual(run_backend(scenario), [("outbound", "BYE (local hangup)")])

    def test_no_emitter(self) -> None:
        """
        Without an emitter nothing is kept of the INVITE; removing the
        emitter stops the traces.
        """

        async def scenario(backend: Any, clock: Any) -> list[Any]:
            traces: list[Any] = []
            await answer(backend, request=INVITE)
            backend.set_trace_emitter(traces.append)
            backend.set_trace_emitter(None)
            await answer(backend, request=INVITE)
            return traces

        self.assertEqual(run_backend(scenario), [])

    def test_failing_emitter(self) -> None:
        """
        An emitter that raises is logged; the call goes on (three traces:
        INVITE, 200 OK, and the BYE of C{close()}).
        """

        def emitter(trace: Any) -> None:
            raise KeyError(trace.summary)

        async def scenario(backend: Any, clock: Any) -> Any:
            backend.set_trace_emitter(emitter)
            call = await answer(backend)
            return backend.get_session(call.session_id).state

        with capturedLogs():
            self.assertEqual(run_backend(scenario), rk.VoiceSessionState.ACTIVE)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 3)

    def test_pending_invites_bounded(self) -> None:
        """
        INVITEs kept for their trace but never answered do not pile up.
        """

        async def scenario(backend: Any, clock: Any) -> int:
            backend.set_trace_emitter(lambda t: None)
            backend.set_invite_filter(lambda call: (486, "Busy Here"))
            for _ in range(calls._PENDING_INVITES + 20):
                await as_awaitable(backend.fake_engine.invite(request=INVITE))
            return len(backend.fake_engine.rejected), len(backend._runtime.events._invites)

        self.assertEqual(
            run_backend(scenario), (calls._PENDING_INVITES + 20, calls._PENDING_INVITES)
        )
