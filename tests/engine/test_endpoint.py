"""
Requests that are not calls: OPTIONS, methods we do not serve, requests
for dialogs we do not have, what cannot be parsed, and the RFC 4475 torture
messages, each fed to a fresh engine over the memory UDP transport and
answered as the corpus manifest allows.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import Response, parse_message
from tests.engine._peer import HOST, PEER, Harness, assert_released
from tests.sip.test_rfc4475 import DATA, PARSED, REJECTED, UAS_LEVEL


class OptionsTests(SynchronousTestCase):
    def test_capabilities(self) -> None:
        """§11.2: Allow, Accept, Accept-Encoding, Accept-Language, Supported."""
        h = Harness()
        c = h.caller()
        c.send(c.request("OPTIONS", content_type=None, headers=[("Accept", "application/sdp")]))
        [ok] = c.responses("OPTIONS")
        self.assertEqual(ok.status, 200)
        self.assertIsNotNone(ok.to.tag)
        self.assertEqual(
            ok.headers.get_all("Allow"),
            ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE"],
        )
        self.assertIn("application/sdp", ok.headers.get_all("Accept"))
        self.assertEqual(ok.headers.get_all("Supported"), ["timer"])
        self.assertEqual(ok.headers.get("Accept-Encoding"), "identity")
        self.assertEqual(ok.headers.get("Contact"), f"<sip:{HOST}:5060>")
        self.assertTrue(ok.headers.get("Server").startswith("roomkit-sip/"))
        assert_released(self, h)

    def test_max_forwards_zero_still_answered(self) -> None:
        h = Harness()
        c = h.caller()
        options = c.request("OPTIONS", content_type=None)
        options.headers.set("Max-Forwards", "0")
        c.send(options)
        self.assertEqual(c.statuses("OPTIONS"), [200])

    def test_draining_503(self) -> None:
        h = Harness(retry_after=9)
        h.caller().connect()  # keeps the engine draining
        h.engine.stop(drain_timeout=60)
        c = h.caller()
        c.send(c.request("OPTIONS", content_type=None))
        [busy] = c.responses("OPTIONS")
        self.assertEqual((busy.status, busy.headers.get("Retry-After")), (503, "9"))


class MethodTests(SynchronousTestCase):
    def answer(self, method: str, **kw: Any) -> Response:
        h = Harness()
        c = h.caller()
        c.send(c.request(method, content_type=None, **kw))
        [response] = c.responses(method)
        self.assertIsNotNone(response.to.tag)
        return response

    def test_known_but_not_served_405(self) -> None:
        for method in ("REGISTER", "SUBSCRIBE", "REFER", "MESSAGE", "PRACK"):
            with self.subTest(method=method):
                response = self.answer(method)
                self.assertEqual(response.status, 405)
                self.assertIn("INVITE", response.headers.get_all("Allow"))

    def test_unknown_501(self) -> None:
        self.assertEqual(self.answer("FROBNICATE").status, 501)

    def test_dialog_requests_outside_a_dialog_481(self) -> None:
        for method in ("BYE", "INFO", "UPDATE"):
            with self.subTest(method=method):
                self.assertEqual(self.answer(method).status, 481)

    def test_in_dialog_request_for_no_dialog_481(self) -> None:
        self.assertEqual(self.answer("BYE", in_dialog=True).status, 481)

    def test_require_on_options_420(self) -> None:
        response = self.answer("OPTIONS", headers=[("Require", "gruu")])
        self.assertEqual((response.status, response.headers.get("Unsupported")), (420, "gruu"))

    def test_malformed_header_read_late_400(self) -> None:
        """A Require the parser left lazy turns out malformed only when read."""
        response = self.answer("OPTIONS", headers=[("Content-Type", "not a type")])
        self.assertIn(response.status, (200, 400))


class DatagramTests(SynchronousTestCase):
    def test_unparsable_request_answered_400_with_warning(self) -> None:
        h = Harness()
        data = (
            b"OPTIONS sip:bot@198.51.100.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-x\r\n"
            b"From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:bot@198.51.100.1>\r\n"
            b"Call-ID: bad-mf\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 700\r\n\r\n"
        )
        h.sip.deliver(data, PEER)
        [(written, addr)] = h.sip.take_written()
        response = parse_message(written)
        assert isinstance(response, Response)
        self.assertEqual((response.status, addr), (400, PEER))
        self.assertTrue(response.headers.get("Warning").startswith("399 - "))
        self.assertIsNotNone(response.to.tag)
        self.assertEqual(h.engine.stats()["sip_parse_errors"], 1)

    def test_unreadable_cseq_still_answered(self) -> None:
        """RFC 4475 §3.1.2.4: the answer goes, without the field that was the defect."""
        h = Harness()
        data = (
            b"OPTIONS sip:bot@198.51.100.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-x\r\n"
            b"From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:bot@198.51.100.1>\r\n"
            b"Call-ID: bad-cseq\r\nCSeq: many OPTIONS\r\nMax-Forwards: 70\r\n\r\n"
        )
        h.sip.deliver(data, PEER)
        [(written, addr)] = h.sip.take_written()
        self.assertTrue(written.startswith(b"SIP/2.0 400 "))
        self.assertIn(b"branch=z9hG4bK-x", written)
        self.assertNotIn(b"\r\nCSeq:", written)

    def test_request_without_via_dropped(self) -> None:
        h = Harness()
        data = (
            b"OPTIONS sip:bot@198.51.100.1 SIP/2.0\r\n"
            b"From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:bot@198.51.100.1>\r\n"
            b"Call-ID: no-via\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n"
        )
        h.sip.deliver(data, PEER)
        self.assertEqual(h.sip.take_written(), [])

    def test_garbage_and_keepalives_are_dropped(self) -> None:
        h = Harness()
        for data in (b"\r\n\r\n", b"\x00\x00\x00\x00", b"\x16\x03\x01garbage", b"SIP/2.0 200"):
            h.sip.deliver(data, PEER)
        self.assertEqual(h.sip.take_written(), [])

    def test_stray_ack_and_response_are_dropped(self) -> None:
        h = Harness()
        c = h.caller()
        c.send(c.request("ACK", in_dialog=True, content_type=None))
        c.answer(c.request("BYE", content_type=None))
        self.assertEqual(h.sip.take_written(), [])


class TortureTests(SynchronousTestCase):
    """RFC 4475 at the engine: every file, the answer the manifest allows."""

    SOURCE = ("192.0.2.2", 5060)

    def setUp(self) -> None:
        manifest = json.loads((DATA / "manifest.json").read_text())
        self.allowed = {case["file"]: case["uas_answer"] for case in manifest["cases"]}

    def outcome(self, name: str) -> tuple[str | int, list[int]]:
        """The final status sent (or "drop"), and every status sent."""
        h = Harness()
        h.sip.deliver((DATA / name).read_bytes(), self.SOURCE)
        statuses = []
        for data, _ in h.sip.take_written():
            # Read the status line only: an answer to a message whose To was
            # malformed has no To to copy (§8.2.6.2), and would not parse.
            if data.startswith(b"SIP/2.0 "):
                statuses.append(int(data.split(b" ", 2)[1]))
        finals = [s for s in statuses if s >= 200]
        self.assertLessEqual(len(finals), 1, (name, statuses))
        h.engine.stop()
        return (finals[0] if finals else "drop"), statuses

    def test_every_file(self) -> None:
        self.assertEqual(set(self.allowed), PARSED | set(REJECTED))
        for name, allowed in sorted(self.allowed.items()):
            with self.subTest(name=name):
                final, statuses = self.outcome(name)
                options = allowed if isinstance(allowed, list) else [allowed]
                handled = final != "drop" and 400 not in statuses
                ok = final in options or ("any-but-400" in options and handled)
                self.assertTrue(ok, (name, allowed, statuses))

    def test_uas_level_decisions(self) -> None:
        """The ones the parser cannot decide get the engine's specific answer."""
        for name, answers in sorted(UAS_LEVEL.items()):
            with self.subTest(name=name):
                final, _ = self.outcome(name)
                if answers != ("any-but-400",):
                    self.assertIn(final, answers)


class MergedRequestTests(SynchronousTestCase):
    def test_forked_copy_of_a_live_invite_482(self) -> None:
        """§8.2.2.2: the same INVITE (From tag, Call-ID, CSeq) by another branch."""
        h = Harness()
        h.handler.verdict = lambda incoming: incoming.MANUAL
        c = h.caller()
        c.send_invite()
        copy = c.invite.copy()  # type: ignore[union-attr]
        copy.headers.set("Via", "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-fork2")
        c.send(copy)
        self.assertEqual(c.statuses(), [100, 482])
        self.assertEqual(len(h.handler.incoming), 1)
