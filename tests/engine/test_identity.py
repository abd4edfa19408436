"""Identity and metadata by roomkit's rules, and the engine's registry of calls."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.codecs.g722 import G722
from roomkit_sip.engine.identity import Identity, call_metadata, codec_metadata, x_headers
from roomkit_sip.engine.registry import CallRegistry
from roomkit_sip.sip import Headers, Request
from roomkit_sip.sip.dialog import DialogId


def invite(*headers: tuple[str, str], sender: str = '"Bob" <sip:bob@192.0.2.5>;tag=1') -> Request:
    fields = Headers()
    fields.add("Via", "SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK-1")
    fields.add("From", sender)
    fields.add("To", "<sip:agent@example.net>")
    fields.add("Call-ID", "abc@192.0.2.5")
    fields.add("CSeq", "1 INVITE")
    for name, value in headers:
        fields.add(name, value)
    return Request("INVITE", "sip:agent@example.net", fields)


class IdentityTests(SynchronousTestCase):
    def test_defaults_to_the_call_id(self) -> None:
        identity = Identity.of(invite())
        self.assertEqual(
            (identity.session_id, identity.room_id, identity.participant_id),
            ("abc@192.0.2.5", "abc@192.0.2.5", "sip:bob@192.0.2.5"),
        )
        self.assertEqual((identity.caller_display_name, identity.caller_user), ("Bob", "bob"))

    def test_x_headers_route(self) -> None:
        identity = Identity.of(
            invite(
                ("x-room-id", " room-1 "),
                ("X-Session-ID", "s-7"),
                ("X-Other", "a"),
                ("X-Other", "b"),
            )
        )
        self.assertEqual(
            (identity.session_id, identity.room_id, identity.participant_id),
            ("s-7", "room-1", "s-7"),
        )
        self.assertEqual(
            identity.x_headers, {"x-room-id": "room-1", "X-Session-ID": "s-7", "X-Other": "a"}
        )

    def test_empty_x_header_is_ignored(self) -> None:
        self.assertEqual(Identity.of(invite(("X-Room-ID", ""))).room_id, "abc@192.0.2.5")

    def test_tel_caller(self) -> None:
        identity = Identity.of(invite(sender="<tel:+15551234567>;tag=9"))
        self.assertEqual((identity.caller, identity.caller_user, identity.caller_display_name),
                         ("tel:+15551234567", "+15551234567", ""))  # fmt: skip

    def test_metadata_is_plain_json(self) -> None:
        metadata = call_metadata(Identity.of(invite(("X-Room-ID", "r"))), G722)
        self.assertEqual(json.loads(json.dumps(metadata)), metadata)
        self.assertEqual(
            (metadata["codec_sample_rate"], metadata["rtp_clock_rate"]), (16000, 8000)
        )
        self.assertEqual(codec_metadata(G722)["codec"], "G722")
        self.assertEqual(x_headers(invite()), {})


class RegistryTests(SynchronousTestCase):
    def test_claims(self) -> None:
        registry = CallRegistry()
        first, second = object(), object()
        self.assertTrue(registry.claim("s", first))
        self.assertTrue(registry.claim("s", first))
        self.assertFalse(registry.claim("s", second))
        registry.release("s", second)  # not its claim
        self.assertEqual(registry.claimed, 1)
        registry.transfer("s", first, second)
        registry.release("s", first)
        self.assertEqual(registry.claimed, 1)
        registry.release("s", second)
        self.assertTrue(registry.empty)

    def test_dialogs_acks_and_pending(self) -> None:
        registry = CallRegistry()
        owner, other = object(), object()
        dialog = DialogId("c", "l", "r")
        registry.bind_dialog(dialog, owner)
        registry.unbind_dialog(dialog, other)
        self.assertIs(registry.dialog_owner(dialog), owner)
        registry.expect_ack("txn", owner)
        registry.add_pending("txn2", owner)
        self.assertEqual(registry.counts()["awaiting_ack"], 1)
        self.assertEqual(registry.pending(), [owner])
        registry.unbind_dialog(dialog, owner)
        registry.forget_ack("txn")
        registry.remove_pending("txn2")
        self.assertTrue(registry.empty)
