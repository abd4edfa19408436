"""
Registrations (C{SIPEngine.register}, RFC 3261 §10) against a fake
registrar: the REGISTER, digest and its nonce count across refreshes, 423,
the expiry granted and the refresh it schedules, retries after a loss, and
the un-REGISTER when the registration or the engine stops.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine import RegistrationFailed, RegistrationTimeout
from roomkit_sip.engine.registration import RETRY_INTERVAL, refresh_delay
from roomkit_sip.sip import Request, Response, make_response
from roomkit_sip.sip.digest import compute_ha1, compute_response, parse_credentials
from tests.engine._peer import HOST, Harness, fired

REGISTRAR = ("192.0.2.20", 5060)
CHALLENGE = 'Digest realm="pbx", nonce="abc123", algorithm=MD5, qop="auth"'


class Registrar:
    """The fake registrar at L{REGISTRAR}."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.answered = 0

    def registers(self) -> list[Request]:
        """REGISTERs received, one per transaction (retransmissions left out)."""
        seen: dict[str | None, Request] = {}
        for m in self.h.inbox(REGISTRAR):
            if isinstance(m, Request) and m.method == "REGISTER":
                seen.setdefault(m.top_via.branch, m)
        return list(seen.values())

    def last(self) -> Request:
        return self.registers()[-1]

    def respond(
        self, status: int, headers: list[tuple[str, str]] | None = None, **kw: Any
    ) -> Response:
        response = make_response(self.last(), status, to_tag="reg", headers=headers or [], **kw)
        self.h.sip.deliver(bytes(response), REGISTRAR)
        self.answered += 1
        return response

    def challenge(self, value: str = CHALLENGE) -> Response:
        return self.respond(401, [("WWW-Authenticate", value)])

    def ok(self, expires: int = 120) -> Response:
        """200 with our Contact and its granted expiry (§10.3 step 8)."""
        contact = self.last().contacts[0]
        return self.respond(200, [("Contact", f"<{contact.uri}>;expires={expires}")])


def register(h: Harness, **kw: Any) -> Any:
    kw.setdefault("username", "alice")
    kw.setdefault("password", "s3cret")
    kw.setdefault("domain", "pbx.example")
    return h.engine.register(REGISTRAR, **kw)


def nc_of(request: Request) -> str | None:
    credentials = parse_credentials(request.headers.get("Authorization"))
    assert credentials is not None
    expected = compute_response(
        "MD5", compute_ha1("MD5", "alice", "pbx", "s3cret"), method="REGISTER",
        uri=request.uri, nonce=credentials.nonce, qop="auth", nc=credentials.nc,
        cnonce=credentials.cnonce,
    )  # fmt: skip
    assert credentials.response == expected, "wrong digest response"
    return credentials.nc


def expires_of(request: Request) -> tuple[str | None, str | None]:
    return request.contacts[0].params.get("expires"), request.headers.get("Expires")


class RegisterTests(SynchronousTestCase):
    def test_register_request(self) -> None:
        """§10.2: Request-URI, To/From, Contact, Call-ID, CSeq, expiry."""
        h = Harness()
        registration = register(h, expires=600)
        [request] = Registrar(h).registers()
        self.assertEqual(request.uri, "sip:pbx.example")
        self.assertEqual(str(request.to.uri), "sip:alice@pbx.example")
        self.assertIsNone(request.to.tag)
        self.assertEqual(str(request.from_.uri), "sip:alice@pbx.example")
        self.assertTrue(request.from_.tag)
        self.assertEqual(str(request.contacts[0].uri), f"sip:alice@{HOST}:5060")
        self.assertEqual(expires_of(request), ("600", "600"))
        self.assertEqual((request.cseq.seq, request.cseq.method), (1, "REGISTER"))
        self.assertEqual(request.call_id, registration.call_id)
        self.assertEqual(request.max_forwards, 70)
        self.assertIsNone(request.headers.get("Authorization"))
        self.assertEqual(registration.state, "registering")
        self.assertFalse(registration.is_registered)

    def test_defaults_and_contact_user(self) -> None:
        h = Harness()
        register(h, domain=None, contact_user="bot7")
        [request] = Registrar(h).registers()
        self.assertEqual(request.uri, f"sip:{REGISTRAR[0]}")
        self.assertEqual(str(request.to.uri), f"sip:alice@{REGISTRAR[0]}")
        self.assertEqual(str(request.contacts[0].uri), f"sip:bot7@{HOST}:5060")
        self.assertEqual(expires_of(request), ("300", "300"))

    def test_bad_arguments(self) -> None:
        h = Harness()
        self.assertRaises(ValueError, register, h, expires=0)
        self.assertRaises(ValueError, register, h, username="")
        self.assertRaises(ValueError, register, h, domain="bob@pbx.example")
        self.assertRaises(ValueError, register, h, transport="tcp")
        h.engine.stop()
        self.assertRaises(RuntimeError, register, h)

    def test_challenge_then_registered_then_refreshed(self) -> None:
        """
        401: the same Call-ID, CSeq 2, credentials; 200 for 120 s: the
        refresh at 90 s (max(60, 120 - 30)), reusing the nonce with nc 2.
        """
        h = Harness()
        registrar = Registrar(h)
        registration = register(h)
        first = registration.registered
        registrar.challenge()
        second = registrar.last()
        self.assertEqual((second.call_id, second.cseq.seq), (registration.call_id, 2))
        self.assertEqual(second.from_.tag, registrar.registers()[0].from_.tag)
        self.assertEqual(nc_of(second), "00000001")
        self.assertNoResult(first)
        registrar.ok(120)
        self.assertIs(fired(first), registration)
        self.assertIs(fired(registration.registered), registration)
        self.assertEqual((registration.state, registration.granted), ("registered", 120))
        self.assertEqual(registration.expires_at, h.reactor.seconds() + 120)
        self.assertTrue(registration.is_registered)
        self.assertEqual(registration.last_status, 200)
        h.advance(89.9)
        self.assertEqual(len(registrar.registers()), 2)
        h.advance(0.2)
        refresh = registrar.last()
        self.assertEqual((refresh.cseq.seq, refresh.call_id), (3, registration.call_id))
        self.assertEqual(nc_of(refresh), "00000002")  # the DigestClient was kept
        registrar.ok(120)
        self.assertEqual(registration.refreshes, 1)
        h.advance(90.0)
        self.assertEqual(nc_of(registrar.last()), "00000003")

    def test_refresh_delay(self) -> None:
        self.assertEqual(
            [refresh_delay(g) for g in (3600, 300, 60, 40, 2)], [3570, 270, 30, 20, 1]
        )

    def test_expiry_from_the_expires_header_or_as_asked(self) -> None:
        h = Harness()
        registrar = Registrar(h)
        registration = register(h)
        registrar.respond(200, [("Expires", "50")])
        self.assertEqual(registration.granted, 50)
        h.advance(25.0)
        registrar.respond(200)
        self.assertEqual(registration.granted, 300)

    def test_423_interval_too_brief(self) -> None:
        """§10.2.8: again with Min-Expires; refreshes keep it."""
        h = Harness()
        registrar = Registrar(h)
        registration = register(h, expires=60)
        registrar.respond(423, [("Min-Expires", "600")])
        self.assertEqual(expires_of(registrar.last()), ("600", "600"))
        self.assertEqual(registrar.last().cseq.seq, 2)
        registrar.ok(600)
        self.assertEqual(registration.expires, 600)
        h.advance(570.0)
        self.assertEqual(expires_of(registrar.last()), ("600", "600"))

    def test_423_without_a_larger_minimum_fails(self) -> None:
        h = Harness()
        registrar = Registrar(h)
        registration = register(h, expires=600)
        registrar.respond(423, [("Min-Expires", "300")])
        self.assertEqual(self.failureResultOf(registration.registered).value.status, 423)

    def test_first_refusal_is_final(self) -> None:
        """403 (or 404) first: the Deferred fails, nothing is retried."""
        for status in (403, 404):
            h = Harness()
            registrar = Registrar(h)
            registration = register(h)
            waiting = registration.registered
            registrar.respond(status)
            error = self.failureResultOf(waiting, RegistrationFailed).value
            self.assertEqual(error.status, status)
            self.assertIsInstance(error, RuntimeError)
            self.assertEqual((registration.state, registration.failures), ("failed", 1))
            h.advance(200.0)
            self.assertEqual(len(registrar.registers()), 1)
            self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_wrong_password(self) -> None:
        h = Harness()
        registrar = Registrar(h)
        registration = register(h, password="nope")
        registrar.challenge()
        registrar.challenge()
        self.assertEqual(self.failureResultOf(registration.registered).value.status, 401)
        self.assertEqual(len(registrar.registers()), 2)

    def test_no_answer_first(self) -> None:
        h = Harness()
        registration = register(h)
        waiting = registration.registered
        h.advance(31.0)
        self.assertNoResult(waiting)
        h.advance(1.5)
        error = self.failureResultOf(waiting, RegistrationTimeout).value
        self.assertEqual(error.status, 408)
        self.assertIsInstance(error, TimeoutError)
        self.assertEqual(registration.last_status, 408)


class RetryTests(SynchronousTestCase):
    def test_lost_refresh_retried_every_30_s(self) -> None:
        """After a success, a failed refresh is retried every RETRY_INTERVAL."""
        h = Harness()
        registrar = Registrar(h)
        registration = register(h)
        registrar.ok(120)
        h.advance(90.0)
        registrar.respond(500)
        self.assertEqual((registration.state, registration.failures), ("retrying", 1))
        self.assertTrue(registration.is_registered)  # the binding has 30 s left
        h.advance(RETRY_INTERVAL - 0.1)
        self.assertEqual(len(registrar.registers()), 2)
        h.advance(0.1)
        self.assertEqual(len(registrar.registers()), 3)
        h.advance(32.5)  # no answer at all: Timer F, then 30 s more
        self.assertEqual(registration.failures, 2)
        self.assertEqual(registration.last_status, 408)
        self.assertFalse(registration.is_registered)  # ran out meanwhile
        h.advance(RETRY_INTERVAL)
        self.assertEqual(len(registrar.registers()), 4)
        registrar.ok(120)
        self.assertEqual(registration.state, "registered")
        self.assertTrue(registration.is_registered)
        self.assertEqual(fired(registration.registered), registration)


class StopTests(SynchronousTestCase):
    def test_stop_unregisters(self) -> None:
        """expires=0 on our Contact only, with credentials; fires on the 200."""
        h = Harness()
        registrar = Registrar(h)
        registration = register(h)
        registrar.challenge()
        registrar.ok(120)
        stopped = registration.stop()
        request = registrar.last()
        self.assertEqual(expires_of(request), ("0", "0"))
        self.assertNotEqual(request.headers.get("Contact"), "*")
        self.assertEqual((request.cseq.seq, nc_of(request)), (3, "00000002"))
        self.assertEqual(registration.state, "unregistering")
        self.assertNoResult(stopped)
        registrar.respond(200)
        fired(stopped)
        fired(registration.stop())  # idempotent
        self.assertEqual(registration.state, "stopped")
        self.assertFalse(registration.is_registered)
        self.assertEqual(h.engine.registrations, [])
        h.settle()
        self.assertEqual(h.reactor.getDelayedCalls(), [])
        self.assertEqual(len(registrar.registers()), 3)

    def test_unregister_challenged(self) -> None:
        h = Harness()
        registrar = Registrar(h)
        registration = register(h)
        registrar.ok(120)
        stopped = registration.stop()
        registrar.challenge()
        self.assertEqual(expires_of(registrar.last()), ("0", "0"))
        registrar.respond(200)
        fired(stopped)

    def test_stop_while_the_first_register_is_out(self) -> None:
        """One REGISTER at a time (§10.2): its 200 is followed by the un-REGISTER."""
        h = Harness()
        registrar = Registrar(h)
        registration = register(h)
        waiting = registration.registered
        stopped = registration.stop()
        self.failureResultOf(waiting, RegistrationFailed)
        self.assertEqual(len(registrar.registers()), 1)
        registrar.ok(120)
        self.assertEqual(expires_of(registrar.last()), ("0", "0"))
        registrar.respond(200)
        fired(stopped)

    def test_stop_never_registered(self) -> None:
        h = Harness()
        registrar = Registrar(h)
        registration = register(h)
        registrar.respond(403)
        self.failureResultOf(registration.registered)
        fired(registration.stop())
        self.assertEqual(len(registrar.registers()), 1)

    def test_engine_stop_unregisters_every_registration(self) -> None:
        h = Harness()
        registrar = Registrar(h)
        first = register(h)
        registrar.ok(120)
        second = register(h, username="bob")
        registrar.ok(120)
        stopped = h.engine.stop()
        removals = [r for r in registrar.registers() if expires_of(r) == ("0", "0")]
        self.assertEqual({str(r.to.uri) for r in removals},
                         {"sip:alice@pbx.example", "sip:bob@pbx.example"})  # fmt: skip
        self.assertNoResult(stopped)
        for request in removals:
            response = make_response(request, 200, to_tag="reg")
            h.sip.deliver(bytes(response), REGISTRAR)
        fired(stopped)
        self.assertEqual((first.state, second.state), ("stopped", "stopped"))
        self.assertEqual(len(h.engine._transactions), 0)

    def test_engine_stop_bounded_when_the_registrar_is_gone(self) -> None:
        h = Harness()
        registrar = Registrar(h)
        register(h)
        registrar.ok(120)
        stopped = h.engine.stop()
        h.advance(4.9)
        self.assertNoResult(stopped)
        h.advance(0.2)
        fired(stopped)
        self.assertEqual(len(h.engine._transactions), 0)
        self.assertEqual(h.reactor.getDelayedCalls(), [])
