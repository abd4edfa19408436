"""
L{roomkit_sip.sip.dialog}: dialog creation on both sides (RFC 3261 §12.1),
CSeq ordering and target refresh (§12.2.2), in-dialog requests through loose
and strict routers (§12.2.1.1), the 2xx ACK (§13.2.2.4), the dialog table,
and a whole UAS call through the transaction layer.
"""

import pathlib

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import Address, Request, parse_address, parse_message, parse_uri
from roomkit_sip.sip.dialog import Dialog, DialogId, DialogState, DialogTable
from roomkit_sip.sip.reason import q850
from roomkit_sip.sip.routing import Hop, next_hop

from ._txn_support import PEER, advance, make_layer, outgoing, reparse, request, response

RR = "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
ME = parse_address("<sip:bob@192.0.2.10:5060>")


def uas_dialog(**kw: object) -> Dialog:
    invite = request("INVITE", extra=RR)
    return Dialog.for_uas(invite, "ourtag", contact=ME, **kw)  # type: ignore[arg-type]


class UasDialogTests(SynchronousTestCase):
    def test_created_from_invite(self) -> None:
        """§12.1.1: tags, URIs, route set in order, remote target, remote CSeq."""
        dialog = uas_dialog()
        self.assertEqual(dialog.id, DialogId("call-1@192.0.2.1", "ourtag", "ftag"))
        self.assertEqual(str(dialog.remote_target), "sip:alice@192.0.2.1:5060")
        self.assertEqual(
            [str(route) for route in dialog.route_set],
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"],
        )
        self.assertEqual((dialog.remote_seq, dialog.local_seq), (1, None))
        self.assertEqual(str(dialog.remote_uri), "<sip:alice@example.com>")
        self.assertEqual(str(dialog.local_uri), "<sip:bob@example.com>")
        self.assertEqual(dialog.state, DialogState.EARLY)
        self.assertFalse(dialog.secure)
        dialog.confirm()
        self.assertEqual(dialog.state, DialogState.CONFIRMED)

    def test_secure(self) -> None:
        """Secure only for a SIPS Request-URI received over TLS (§12.1.1)."""
        invite = request("INVITE", uri="sips:bob@example.com")
        self.assertTrue(Dialog.for_uas(invite, "t", transport="TLS").secure)
        self.assertFalse(Dialog.for_uas(invite, "t", transport="TCP").secure)

    def test_random_tag(self) -> None:
        """Without a tag, a random one with 64 bits (≥ 32 asked by §19.3)."""
        tags = {Dialog.for_uas(request("INVITE")).local_tag for _ in range(20)}
        self.assertEqual(len(tags), 20)
        self.assertTrue(all(len(tag) == 16 for tag in tags))

    def test_rfc2543_peer(self) -> None:
        """No From tag (null remote tag) and no Contact: the From URI is the target."""
        data = pathlib.Path(__file__).resolve().parent.parent / "data" / "rfc4475" / "inv2543.dat"
        invite = parse_message(data.read_bytes())
        dialog = Dialog.for_uas(invite, "t")
        self.assertIsNone(dialog.remote_tag)
        self.assertEqual(
            str(dialog.remote_target), "sip:+13035551111@ift.client.example.net;user=phone"
        )
        self.assertEqual(len(dialog.route_set), 1)
        bye = dialog.create_request("BYE")
        self.assertEqual(bye.to.tag, None)
        self.assertEqual(bye.from_.tag, "t")

    def test_cseq_order(self) -> None:
        """§12.2.2: lower or equal CSeq → 500; ACK and CANCEL are exempt."""
        dialog = uas_dialog()
        self.assertIsNone(dialog.receive_request(request("INFO", cseq=2, to_tag="ourtag")))
        self.assertEqual(dialog.receive_request(request("INFO", cseq=2, to_tag="ourtag")), 500)
        self.assertEqual(dialog.receive_request(request("BYE", cseq=1, to_tag="ourtag")), 500)
        self.assertIsNone(dialog.receive_request(request("ACK", cseq=1, to_tag="ourtag")))
        self.assertIsNone(dialog.receive_request(request("BYE", cseq=7, to_tag="ourtag")))
        self.assertEqual(dialog.remote_seq, 7)

    def test_target_refresh(self) -> None:
        """re-INVITE and UPDATE replace the remote target; INFO does not."""
        dialog = uas_dialog()
        moved = "Contact: <sip:alice@198.51.100.7:5080>\r\n"
        info = request("INFO", cseq=2, extra=moved)
        dialog.receive_request(info)
        self.assertEqual(str(dialog.remote_target), "sip:alice@192.0.2.1:5060")
        reinvite = request("INVITE", cseq=3, to_tag="ourtag")
        reinvite.headers.set("Contact", "<sip:alice@198.51.100.7:5080>")
        dialog.receive_request(reinvite)
        self.assertEqual(str(dialog.remote_target), "sip:alice@198.51.100.7:5080")
        self.assertEqual(len(dialog.route_set), 2)  # the route set never changes


class UacDialogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.invite = request(
            "INVITE", via="SIP/2.0/UDP 192.0.2.10:5060", uri="sip:bob@example.com", cseq=10
        )

    def answer(
        self, status: int, contact: str = "<sip:bob@198.51.100.20>", rr: str = ""
    ) -> object:
        headers = [("Contact", contact)]
        if rr:
            headers.append(("Record-Route", rr))
        return response(self.invite, status, to_tag="bobtag", headers=headers)

    def test_early_then_confirmed(self) -> None:
        """§12.1.2: route set reversed; a 2xx confirms and recomputes it (§13.2.2.4)."""
        ringing = self.answer(180, rr="<sip:p2.example.com;lr>, <sip:p1.example.com;lr>")
        dialog = Dialog.for_uac(self.invite, ringing)
        self.assertEqual(dialog.state, DialogState.EARLY)
        self.assertTrue(dialog.is_uac)
        self.assertEqual(dialog.id, DialogId("call-1@192.0.2.1", "ftag", "bobtag"))
        self.assertEqual(
            [str(r.uri) for r in dialog.route_set],
            ["sip:p1.example.com;lr", "sip:p2.example.com;lr"],
        )
        self.assertEqual(dialog.local_seq, 10)
        self.assertIsNone(dialog.remote_seq)
        ok = self.answer(200, contact="<sip:bob@198.51.100.21>", rr="<sip:p3.example.com;lr>")
        dialog.receive_response(ok)
        self.assertEqual(dialog.state, DialogState.CONFIRMED)
        self.assertEqual([str(r.uri) for r in dialog.route_set], ["sip:p3.example.com;lr"])
        self.assertEqual(str(dialog.remote_target), "sip:bob@198.51.100.21")
        # the peer's first request sets the remote CSeq, whatever its value
        self.assertIsNone(dialog.receive_request(request("BYE", cseq=1)))

    def test_confirmed_from_2xx(self) -> None:
        dialog = Dialog.for_uac(self.invite, self.answer(200))
        self.assertEqual(dialog.state, DialogState.CONFIRMED)

    def test_response_without_tag(self) -> None:
        trying = response(self.invite, 100, to_tag=None)
        self.assertRaises(ValueError, Dialog.for_uac, self.invite, trying)

    def test_2xx_to_reinvite_refreshes_target(self) -> None:
        dialog = Dialog.for_uac(self.invite, self.answer(200))
        reinvite = dialog.create_request("INVITE")
        reinvite.headers.add("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKre")
        dialog.receive_response(
            response(reinvite, 200, headers=[("Contact", "<sip:bob@203.0.113.5>")])
        )
        self.assertEqual(str(dialog.remote_target), "sip:bob@203.0.113.5")
        dialog.receive_response(
            response(reinvite, 488, headers=[("Contact", "<sip:x@203.0.113.6>")])
        )
        self.assertEqual(str(dialog.remote_target), "sip:bob@203.0.113.5")


def _dialog(route_set: tuple[str, ...] = (), target: str = "sip:alice@192.0.2.1:5060") -> Dialog:
    return Dialog(
        call_id="c1",
        local_tag="lt",
        remote_tag="rt",
        local_uri=parse_address("<sip:bob@example.com>"),
        remote_uri=parse_address('"Alice" <sip:alice@example.com>'),
        remote_target=parse_uri(target),
        route_set=tuple(parse_address(route) for route in route_set),
        local_contact=ME,
        local_seq=4,
    )


class RequestConstructionTests(SynchronousTestCase):
    def test_loose_routing(self) -> None:
        """§12.2.1.1: Request-URI is the remote target; Route is the route set."""
        dialog = _dialog(("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"))
        bye = dialog.create_request("BYE", headers=[("Reason", "Q.850;cause=16")])
        self.assertEqual(bye.uri, "sip:alice@192.0.2.1:5060")
        self.assertEqual(
            bye.headers.get_all("Route"), ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        )
        self.assertEqual(next_hop(bye), Hop("p1.example.com", 5060, "UDP"))
        self.assertEqual(dialog.next_hop(), next_hop(bye))
        self.assertEqual(str(bye.to), '"Alice" <sip:alice@example.com>;tag=rt')
        self.assertEqual(str(bye.from_), "<sip:bob@example.com>;tag=lt")
        self.assertEqual((bye.call_id, bye.cseq.seq, bye.cseq.method), ("c1", 5, "BYE"))
        self.assertEqual(bye.max_forwards, 70)
        self.assertEqual(bye.contacts, [])  # BYE is no target refresh
        self.assertNotIn("Via", bye.headers)
        self.assertEqual(bye.headers.get("Reason"), "Q.850;cause=16")
        self.assertEqual(dialog.create_request("INFO").cseq.seq, 6)

    def test_strict_routing(self) -> None:
        """
        §12.2.1.1: a strict first router goes in the Request-URI (without
        parameters a Request-URI cannot carry); the remote target is the
        last Route.
        """
        dialog = _dialog(("<sip:p1.example.com;method=INVITE?x=y>", "<sip:p2.example.com;lr>"))
        bye = dialog.create_request("BYE")
        self.assertEqual(bye.uri, "sip:p1.example.com")
        self.assertEqual(
            bye.headers.get_all("Route"), ["<sip:p2.example.com;lr>", "<sip:alice@192.0.2.1:5060>"]
        )
        self.assertEqual(dialog.next_hop(), Hop("p1.example.com", 5060, "UDP"))

    def test_no_route_set(self) -> None:
        dialog = _dialog(target="sip:alice@192.0.2.1:5070;transport=tcp")
        reinvite = dialog.create_request("INVITE", body=b"v=0\r\n", content_type="application/sdp")
        self.assertNotIn("Route", reinvite.headers)
        self.assertEqual(next_hop(reinvite), Hop("192.0.2.1", 5070, "TCP"))
        self.assertEqual(dialog.next_hop(), Hop("192.0.2.1", 5070, "TCP"))
        self.assertEqual(reinvite.contacts, [ME])  # target refresh requests carry Contact
        self.assertEqual((reinvite.content_type, reinvite.body), ("application/sdp", b"v=0\r\n"))
        reinvite.headers.add("Via", "SIP/2.0/TCP 192.0.2.10;branch=z9hG4bKre", first=True)
        self.assertEqual(parse_message(bytes(reinvite)), reinvite)

    def test_ack_and_cancel_refused(self) -> None:
        dialog = _dialog()
        self.assertRaises(ValueError, dialog.create_request, "ACK")
        self.assertRaises(ValueError, dialog.create_request, "CANCEL")
        self.assertEqual(dialog.local_seq, 4)

    def test_2xx_ack(self) -> None:
        """§13.2.2.4: the INVITE's CSeq number, method ACK, its credentials."""
        dialog = _dialog()
        invite = dialog.create_request("INVITE")
        invite.headers.add("Proxy-Authorization", 'Digest username="bob", realm="x"')
        invite.headers.add("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKinv")
        ack = dialog.create_ack(invite, body=b"v=0\r\n", content_type="application/sdp")
        self.assertEqual((ack.method, ack.cseq.seq, ack.cseq.method), ("ACK", 5, "ACK"))
        self.assertEqual(
            ack.headers.get("Proxy-Authorization"), 'Digest username="bob", realm="x"'
        )
        self.assertEqual(ack.uri, "sip:alice@192.0.2.1:5060")
        self.assertEqual(dialog.local_seq, 5)  # the ACK takes no new number
        ok = response(invite, 200, to_tag="rt")
        self.assertIs(dialog.ack_for(ok), ack)
        older = dialog.create_request("INVITE")
        older.headers.add("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKinv2")
        self.assertIsNone(dialog.ack_for(response(older, 200, to_tag="rt")))


class DialogTableTests(SynchronousTestCase):
    def test_lookup_and_481(self) -> None:
        table = DialogTable()
        uas = uas_dialog()
        table.add(uas)
        self.assertIs(table.for_request(request("BYE", to_tag="ourtag", cseq=2)), uas)
        self.assertFalse(table.unknown_dialog(request("BYE", to_tag="ourtag", cseq=2)))
        self.assertTrue(table.unknown_dialog(request("BYE", to_tag="gone", cseq=2)))
        self.assertFalse(table.unknown_dialog(request("ACK", to_tag="gone")))  # never answered
        self.assertFalse(table.unknown_dialog(request("INVITE")))  # no To tag: new dialog
        self.assertIn(uas, table)
        self.assertEqual(list(table), [uas])
        table.remove(uas)
        self.assertEqual(len(table), 0)
        self.assertIsNone(table.get(uas.id))

    def test_response_lookup(self) -> None:
        table = DialogTable()
        invite = request("INVITE", via="SIP/2.0/UDP 192.0.2.10:5060")
        dialog = Dialog.for_uac(invite, response(invite, 200, to_tag="bobtag"))
        table.add(dialog)
        self.assertIs(table.for_response(response(invite, 200, to_tag="bobtag")), dialog)
        self.assertIsNone(table.for_response(response(invite, 200, to_tag="forked")))


class UasCallFlowTests(SynchronousTestCase):
    """
    INVITE in → 100 → 200 (retransmitted) → ACK → our BYE → 200: the whole
    signalling of an answered call, as the engine drives it.
    """

    def test_call(self) -> None:
        clock, wire, tu, layer = make_layer()
        table = DialogTable()
        layer.receive(request("INVITE", extra=RR), PEER, "UDP")
        txn = tu.txns[-1]
        advance(clock, 0.2)  # the engine is slow: 100 Trying goes out
        dialog = Dialog.for_uas(txn.request, "ourtag", contact=ME)
        table.add(dialog)
        txn.reply(200, to_tag=dialog.local_tag, headers=[("Contact", ME)])
        dialog.confirm()
        advance(clock, 2.0)
        ack = request("ACK", branch="z9hG4bKack", to_tag="ourtag")
        layer.receive(ack, PEER, "UDP")
        self.assertIs(table.for_request(ack), dialog)
        self.assertEqual(wire.times(100), [0.2])
        self.assertEqual(wire.times(200), [0.2, 0.7, 1.7])
        # We hang up.
        bye = dialog.create_request("BYE")
        hop = dialog.next_hop()
        self.assertEqual(hop, Hop("p1.example.com", 5060, "UDP"))
        bye_txn = layer.request(bye, (hop.host, hop.port), hop.transport)
        self.assertTrue(bye.top_via.branch.startswith("z9hG4bK"))
        layer.receive(response(reparse(bye), 200, to_tag=None), (hop.host, hop.port), "UDP")
        self.assertEqual(self.successResultOf(bye_txn.final).status, 200)
        dialog.terminate()
        table.remove(dialog)
        advance(clock, 40)
        self.assertEqual(len(layer), 0)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(tu.events, [("request", "INVITE"), ("ack", 1, PEER)])
        self.assertIsInstance(bye, Request)
        self.assertIsInstance(ME, Address)


class UacCallFlowTests(SynchronousTestCase):
    """
    INVITE out → 180 (early dialog) → 200 → ACK, re-ACKed for each 2xx
    retransmission (in Accepted, then as a stray after Timer M) → BYE.
    """

    def test_call(self) -> None:
        clock, wire, tu, layer = make_layer()
        table = DialogTable()
        peer = ("192.0.2.20", 5060)
        invite = outgoing()
        acks: list[Request] = []

        def reack(ok: object) -> None:
            dialog = table.for_response(ok)
            ack = dialog.ack_for(ok)
            layer.send_ack(ack, peer, "UDP")
            acks.append(ack)

        txn = layer.request(invite, peer, "UDP", on_additional_2xx=reack)
        as_received = reparse(invite)
        contact = [("Contact", "<sip:bob@192.0.2.20>")]
        ringing = response(as_received, 180, to_tag="bobtag", headers=contact)
        layer.receive(ringing, peer, "UDP")
        early = Dialog.for_uac(invite, ringing)
        table.add(early)
        self.assertEqual(early.state, DialogState.EARLY)
        ok = response(as_received, 200, to_tag="bobtag", headers=contact)
        layer.receive(ok, peer, "UDP")
        final = self.successResultOf(txn.final)
        dialog = table.for_response(final)
        self.assertIs(dialog, early)
        dialog.receive_response(final)
        self.assertEqual(dialog.state, DialogState.CONFIRMED)
        ack = dialog.create_ack(invite)
        layer.send_ack(ack, peer, "UDP")
        layer.receive(response(as_received, 200, to_tag="bobtag", headers=contact), peer, "UDP")
        advance(clock, 33)  # Timer M: the INVITE transaction is gone
        self.assertEqual(len(layer), 0)
        late = response(as_received, 200, to_tag="bobtag", headers=contact)
        layer.receive(late, peer, "UDP")
        self.assertEqual(tu.events, [("stray", 200, "INVITE")])
        reack(late)  # what the engine's stray_response does
        self.assertIs(acks[-1], ack)
        sent_acks = [m for m in wire.messages if m.method == "ACK"]
        self.assertEqual(len(sent_acks), 3)
        self.assertEqual({a.top_via.branch for a in sent_acks}, {ack.top_via.branch})
        self.assertNotEqual(ack.top_via.branch, invite.top_via.branch)  # its own transaction
        self.assertEqual(ack.uri, "sip:bob@192.0.2.20")
        # We hang up, with a Q.850 reason.
        bye = dialog.create_request("BYE", headers=[("Reason", q850(16))])
        self.assertEqual(bye.cseq.seq, invite.cseq.seq + 1)
        hop = dialog.next_hop()
        bye_txn = layer.request(bye, (hop.host, hop.port), hop.transport)
        layer.receive(response(reparse(bye), 200, to_tag=None), peer, "UDP")
        self.assertEqual(self.successResultOf(bye_txn.final).status, 200)
        self.assertEqual(
            reparse(bye).headers.get("Reason"), 'Q.850;cause=16;text="Normal call clearing"'
        )
        advance(clock, 40)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(len(layer), 0)
