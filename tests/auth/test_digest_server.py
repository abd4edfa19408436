"""
L{roomkit_sip.auth.digest_server}: challenges, stateless nonces, verification,
replay and expiry, exercised against L{DigestClient} and hand-made tampering.
"""

import ast
import base64
import pathlib
import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.auth.digest_client
import roomkit_sip.auth.digest_server
from roomkit_sip.auth.digest_client import DigestClient
from roomkit_sip.auth.digest_server import (
    NONCE_LIFETIME,
    DigestServer,
    NonceCounts,
    Verdict,
)
from roomkit_sip.sip.digest import (
    Credentials,
    DigestError,
    compute_ha1,
    compute_response,
    format_credentials,
    parse_challenges,
    parse_credentials,
)

REALM = "sip.example.com"
SECRET = b"0123456789abcdef0123456789abcdef"
URI = "sip:+15551234@sip.example.com"


def seeded(seed: int = 7):
    return random.Random(seed).randbytes


class ServerTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.server = self.make_server()

    def make_server(self, **kw) -> DigestServer:
        kw.setdefault("random", seeded())
        return DigestServer(REALM, SECRET, **kw)

    def answer(
        self,
        *,
        algorithm="SHA-256",
        password="pw",
        method="INVITE",
        uri=URI,
        client=None,
        server=None,
    ) -> Credentials:
        """A client's answer to a fresh challenge for C{algorithm}."""
        server = server or self.server
        client = client or DigestClient("alice", password, random=seeded(3))
        headers = server.challenge(self.clock.seconds(), algorithms=[algorithm])
        client.challenged([value for _, value in headers])
        [value] = client.authorizations(method, uri)
        credentials = parse_credentials(value)
        assert credentials is not None
        return credentials

    def verify(self, credentials, secret="pw", method="INVITE", uri=URI, body=b"") -> Verdict:
        return self.server.verify(credentials, secret, method, uri, self.clock.seconds(), body)

    def with_(self, credentials: Credentials, **changes) -> Credentials:
        """Re-sign C{credentials} after changing fields, as a client with the password would."""
        c = Credentials(**{**credentials.__dict__, **changes})
        ha1 = compute_ha1(c.algorithm, c.username, c.realm, "pw")
        response = compute_response(
            c.algorithm,
            ha1,
            method="INVITE",
            uri=c.uri,
            nonce=c.nonce,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
        )
        return Credentials(**{**c.__dict__, "response": response})


class ChallengeTests(ServerTestCase):
    def test_sha256_then_md5_sharing_a_nonce(self) -> None:
        """One header per algorithm, most preferred first (RFC 8760 §2.4)."""
        headers = self.server.challenge(self.clock.seconds())
        self.assertEqual([name for name, _ in headers], ["WWW-Authenticate"] * 2)
        first, second = (parse_challenges(value)[0] for _, value in headers)
        self.assertEqual((first.algorithm, second.algorithm), ("SHA-256", "MD5"))
        self.assertEqual(first.nonce, second.nonce)
        self.assertEqual(first.opaque, second.opaque)
        self.assertEqual((first.realm, first.qop, first.stale), (REALM, ("auth",), False))

    def test_fresh_nonce_each_time(self) -> None:
        a = parse_challenges(self.server.challenge(self.clock.seconds())[0][1])[0]
        b = parse_challenges(self.server.challenge(self.clock.seconds())[0][1])[0]
        self.assertNotEqual(a.nonce, b.nonce)

    def test_proxy_form(self) -> None:
        """A proxy challenges with 407 and Proxy-Authenticate (RFC 3261 §22.3)."""
        proxy = self.make_server(proxy=True)
        self.assertEqual(
            (proxy.status, proxy.challenge_header, proxy.credentials_header),
            (407, "Proxy-Authenticate", "Proxy-Authorization"),
        )
        self.assertEqual(
            (self.server.status, self.server.challenge_header, self.server.credentials_header),
            (401, "WWW-Authenticate", "Authorization"),
        )
        self.assertEqual(proxy.challenge(0.0)[0][0], "Proxy-Authenticate")

    def test_stale_and_restricted(self) -> None:
        [(_, value)] = self.server.challenge(0.0, stale=True, algorithms=["MD5"])
        [c] = parse_challenges(value)
        self.assertEqual((c.algorithm, c.stale), ("MD5", True))

    def test_bad_configuration(self) -> None:
        self.assertRaises(ValueError, DigestServer, REALM, b"short")
        self.assertRaises(ValueError, DigestServer, REALM, SECRET, algorithms=["SHA-1"])
        self.assertRaises(ValueError, DigestServer, REALM, SECRET, algorithms=[])


class NonceTests(ServerTestCase):
    def nonce(self, server=None) -> str:
        server = server or self.server
        return parse_challenges(server.challenge(self.clock.seconds())[0][1])[0].nonce

    def test_issued_at(self) -> None:
        nonce = self.nonce()
        self.assertEqual(len(nonce), 48)
        self.assertEqual(self.server.issued_at(nonce), int(self.clock.seconds()))

    def test_forged_mac(self) -> None:
        raw = bytearray(base64.urlsafe_b64decode(self.nonce()))
        raw[-1] ^= 1
        self.assertIsNone(self.server.issued_at(base64.urlsafe_b64encode(raw).decode()))

    def test_forged_timestamp(self) -> None:
        """Moving the timestamp (to dodge expiry) breaks the MAC."""
        raw = bytearray(base64.urlsafe_b64decode(self.nonce()))
        raw[7] ^= 0x10
        self.assertIsNone(self.server.issued_at(base64.urlsafe_b64encode(raw).decode()))

    def test_other_secret_or_realm(self) -> None:
        other_secret = DigestServer(REALM, b"x" * 32)
        other_realm = DigestServer("other.example.com", SECRET)
        self.assertIsNone(self.server.issued_at(self.nonce(other_secret)))
        self.assertIsNone(self.server.issued_at(self.nonce(other_realm)))

    def test_garbage(self) -> None:
        for nonce in ("", "x" * 47, "!" * 48, "é" * 48, self.nonce().replace("-", "+")):
            self.assertIsNone(self.server.issued_at(nonce), nonce)


class RoundTripTests(ServerTestCase):
    def test_every_algorithm_with_password_and_ha1(self) -> None:
        """A client and the server agree for each algorithm, from a password or a stored HA1."""
        for algorithm in (
            "MD5",
            "MD5-sess",
            "SHA-256",
            "SHA-256-sess",
            "SHA-512-256",
            "SHA-512-256-sess",
        ):
            self.server = self.make_server(algorithms=[algorithm])
            base = algorithm.removesuffix("-sess")
            stored = {base: compute_ha1(base, "alice", REALM, "pw")}
            self.assertEqual(self.verify(self.answer(algorithm=algorithm)), Verdict.ACCEPT)
            self.assertEqual(
                self.verify(self.answer(algorithm=algorithm), secret=stored), Verdict.ACCEPT
            )
            ha1_client = DigestClient("alice", ha1=stored, random=seeded(4))
            answer = self.answer(algorithm=algorithm, client=ha1_client)
            self.assertEqual(self.verify(answer), Verdict.ACCEPT, algorithm)

    def test_nonce_reuse_with_rising_nc(self) -> None:
        """A client may reuse a nonce with nc 1, 2, 3... (RFC 7616 §3.4)."""
        client = DigestClient("alice", "pw", random=seeded())
        client.challenged([v for _, v in self.server.challenge(self.clock.seconds())])
        for expected_nc in ("00000001", "00000002", "00000003"):
            [value] = client.authorizations("INVITE", URI)
            credentials = parse_credentials(value)
            assert credentials is not None
            self.assertEqual(credentials.nc, expected_nc)
            self.assertEqual(self.verify(credentials), Verdict.ACCEPT)
            self.clock.advance(10)


class TamperingTests(ServerTestCase):
    def test_wrong_password(self) -> None:
        self.assertEqual(self.verify(self.answer(password="guess")), Verdict.REJECT)

    def test_unknown_user_looks_like_wrong_password(self) -> None:
        self.assertEqual(self.verify(self.answer(), secret=None), Verdict.REJECT)

    def test_decoy_password_opens_nothing(self) -> None:
        """Unknown users are hashed with a decoy password, which must not log them in."""
        self.server = self.make_server(random=lambda n: bytes(n))
        decoy = base64.b64encode(bytes(18)).decode()
        self.assertEqual(self.verify(self.answer(password=decoy), secret=None), Verdict.REJECT)

    def test_response_changed(self) -> None:
        c = self.answer()
        flipped = ("0" if c.response[0] != "0" else "1") + c.response[1:]
        self.assertEqual(
            self.verify(Credentials(**{**c.__dict__, "response": flipped})), Verdict.REJECT
        )

    def test_method_changed(self) -> None:
        """An INVITE's answer does not authorise a BYE: the method is in HA2."""
        self.assertEqual(self.verify(self.answer(), method="BYE"), Verdict.REJECT)

    def test_wrong_realm(self) -> None:
        self.assertEqual(self.verify(self.with_(self.answer(), realm="evil")), Verdict.RECHALLENGE)

    def test_uri_mismatch_is_bad_request(self) -> None:
        """digest-uri must name the server the request went to (RFC 7616 §3.4.6)."""
        for other in (
            "sip:+15551234@other.example.com",
            "sip:+15551234@sip.example.com:5070",
            "sips:+15551234@sip.example.com",
            "tel:+15551234",
            "not a uri",
        ):
            answer = self.answer(uri=other)
            self.assertRaises(DigestError, self.verify, answer)

    def test_uri_user_part_may_differ(self) -> None:
        """
        Some UACs (SIPp among them) sign the server's URI without the user part
        of the Request-URI: same scheme, host and port is the same resource.
        """
        for signed in ("sip:sip.example.com", "sip:other@SIP.example.com:5060;transport=udp"):
            self.assertEqual(self.verify(self.answer(uri=signed)), Verdict.ACCEPT)

    def test_strict_uri_comparison(self) -> None:
        self.server = self.make_server(uri_equal=str.__eq__)
        self.assertRaises(DigestError, self.verify, self.answer(uri="sip:sip.example.com"))

    def test_uri_equal_hook(self) -> None:
        self.server = self.make_server(uri_equal=lambda a, b: a.lower() == b.lower())
        self.assertEqual(self.verify(self.answer(), uri=URI.upper()), Verdict.ACCEPT)

    def test_modified_nonce(self) -> None:
        c = self.answer()
        forged = c.nonce[:-2] + ("AA" if not c.nonce.endswith("AA") else "BB")
        self.assertEqual(self.verify(self.with_(c, nonce=forged)), Verdict.RECHALLENGE)

    def test_nonce_from_another_server(self) -> None:
        c = self.answer(server=DigestServer(REALM, b"y" * 32))
        self.assertEqual(self.verify(c), Verdict.RECHALLENGE)

    def test_opaque_changed_or_absent(self) -> None:
        c = self.answer()
        self.assertEqual(self.verify(self.with_(c, opaque="other")), Verdict.RECHALLENGE)
        # RFC 7616 §3.4: the client SHOULD return opaque; tolerate its absence.
        self.assertEqual(self.verify(self.with_(c, opaque=None)), Verdict.ACCEPT)

    def test_replayed_and_lower_nc(self) -> None:
        c = self.answer()
        self.assertEqual(self.verify(c), Verdict.ACCEPT)
        self.assertEqual(self.verify(c), Verdict.REPLAY)
        higher = self.with_(c, nc="00000005")
        self.assertEqual(self.verify(higher), Verdict.ACCEPT)
        self.assertEqual(self.verify(self.with_(c, nc="00000004")), Verdict.REPLAY)

    def test_forged_answers_do_not_spend_counts(self) -> None:
        """Only a correct answer records its nc, so an attacker cannot burn a client's."""
        c = self.answer()
        self.assertEqual(self.verify(self.answer(password="guess")), Verdict.REJECT)
        self.assertEqual(self.verify(c), Verdict.ACCEPT)

    def test_expired_nonce_is_stale(self) -> None:
        """A right answer for an expired nonce earns stale=true (RFC 7616 §3.3)."""
        c = self.answer()
        self.clock.advance(NONCE_LIFETIME)
        self.assertEqual(self.verify(c), Verdict.ACCEPT)
        self.clock.advance(1)
        self.assertEqual(self.verify(self.with_(c, nc="00000002")), Verdict.STALE)

    def test_expired_nonce_wrong_password(self) -> None:
        """stale=true is never given for a wrong password."""
        c = self.answer(password="guess")
        self.clock.advance(NONCE_LIFETIME + 1)
        self.assertEqual(self.verify(c), Verdict.REJECT)

    def test_nonce_from_the_future(self) -> None:
        c = self.answer()
        self.clock.advance(-5)
        self.assertEqual(self.verify(c), Verdict.RECHALLENGE)

    def test_algorithm_not_offered(self) -> None:
        """No downgrade: MD5 is refused when only SHA-256 is offered."""
        self.server = self.make_server(algorithms=["SHA-256"])
        c = self.answer(algorithm="MD5", server=self.make_server(algorithms=["MD5"]))
        self.assertEqual(self.verify(c), Verdict.RECHALLENGE)

    def test_qop_not_offered(self) -> None:
        c = self.answer()
        self.assertRaises(DigestError, self.verify, self.with_(c, qop="auth-int"))

    def test_rfc2069_md5_single_use(self) -> None:
        """No qop: accepted for MD5 (RFC 3261 §22.4), and the nonce is then spent."""
        c = self.with_(self.answer(algorithm="MD5"), qop=None, nc=None, cnonce=None)
        self.assertEqual(self.verify(c), Verdict.ACCEPT)
        self.assertEqual(self.verify(c), Verdict.REPLAY)

    def test_rfc2069_only_for_md5_and_when_allowed(self) -> None:
        c = self.with_(self.answer(), qop=None, nc=None, cnonce=None)
        self.assertRaises(DigestError, self.verify, c)
        self.server = self.make_server(allow_rfc2069=False)
        md5 = self.with_(self.answer(algorithm="MD5"), qop=None, nc=None, cnonce=None)
        self.assertRaises(DigestError, self.verify, md5)

    def test_screen_needs_no_secret(self) -> None:
        """Garbage is settled before any lookup; good-looking answers ask for the secret."""
        c = self.answer()
        now = self.clock.seconds()
        self.assertIsNone(self.server.screen(c, URI, now))
        self.assertEqual(
            self.server.screen(self.with_(c, nonce="x" * 48), URI, now), Verdict.RECHALLENGE
        )


class StoredHA1Tests(ServerTestCase):
    MD5_ONLY = {"MD5": compute_ha1("MD5", "alice", REALM, "pw")}

    def test_missing_algorithm_is_unverifiable(self) -> None:
        """An htdigest-style store with only MD5 cannot check a SHA-256 answer."""
        self.assertEqual(self.verify(self.answer(), secret=self.MD5_ONLY), Verdict.UNVERIFIABLE)
        self.assertEqual(self.server.verifiable(self.MD5_ONLY), ("MD5",))
        self.assertEqual(self.server.verifiable("pw"), ("SHA-256", "MD5"))
        self.assertEqual(self.server.verifiable(None), ("SHA-256", "MD5"))

    def test_wrong_ha1(self) -> None:
        wrong = {"MD5": compute_ha1("MD5", "alice", REALM, "other")}
        self.assertEqual(self.verify(self.answer(algorithm="MD5"), secret=wrong), Verdict.REJECT)


class NonceCountsTests(SynchronousTestCase):
    def test_expiry_frees_memory(self) -> None:
        counts = NonceCounts(lifetime=10, capacity=100)
        for i in range(5):
            self.assertTrue(counts.record(f"n{i}", issued=0, nc=1, now=0))
        self.assertEqual(len(counts), 5)
        self.assertTrue(counts.record("late", issued=11, nc=1, now=11))
        self.assertEqual(len(counts), 1)

    def test_bounded_under_flood_without_losing_replays(self) -> None:
        """At capacity the oldest go, and a forgotten nonce counts as spent."""
        counts = NonceCounts(lifetime=1000, capacity=3)
        for i in range(10):
            self.assertTrue(counts.record(f"n{i}", issued=i, nc=1, now=10))
        self.assertEqual(len(counts), 3)
        self.assertFalse(counts.record("n0", issued=0, nc=1, now=10))
        self.assertFalse(counts.record("n0", issued=0, nc=2, now=10))
        self.assertFalse(counts.record("never-seen", issued=6, nc=1, now=10))
        self.assertTrue(counts.record("n9", issued=9, nc=2, now=10))
        self.assertTrue(counts.record("new", issued=10, nc=1, now=10))


class SansIOTests(SynchronousTestCase):
    def test_no_io_imports(self) -> None:
        """The digest halves stay sans-IO although they live beside Twisted code."""
        for module in (roomkit_sip.auth.digest_server, roomkit_sip.auth.digest_client):
            tree = ast.parse(pathlib.Path(module.__file__).read_text())
            names = {
                n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree)
                if isinstance(n, ast.Import | ast.ImportFrom)
                for a in n.names
            }
            self.assertFalse(
                {n for n in names if n and (n.startswith("twisted") or n in ("time", "socket"))}
            )


class FormatTests(ServerTestCase):
    def test_answer_survives_header_round_trip(self) -> None:
        c = self.answer()
        self.assertEqual(self.verify(parse_credentials(format_credentials(c))), Verdict.ACCEPT)
