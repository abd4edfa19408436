"""
L{roomkit_sip.auth.digest_client}: choosing a challenge, counting nonce uses,
stale retries and giving up on refused credentials.
"""

import base64

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.auth.digest_client import DigestClient
from roomkit_sip.sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    compute_ha1,
    compute_response,
    format_challenge,
    parse_credentials,
)

URI = "sip:bob@pbx.example.com"


def challenge(algorithm="MD5", nonce="n1", realm="pbx", qop=("auth",), stale=False) -> str:
    return format_challenge(Challenge(realm, nonce, algorithm, qop, "op", stale))


def counter():
    """Deterministic cnonce bytes: 0x00.., 0x01.., ..."""
    state = {"i": 0}

    def randbytes(n: int) -> bytes:
        state["i"] += 1
        return bytes([state["i"] - 1]) * n

    return randbytes


class ClientTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.client = DigestClient("alice", "pw", random=counter())

    def answer(self, method="INVITE", uri=URI, body=b"", client=None) -> Credentials:
        [value] = (client or self.client).authorizations(method, uri, body)
        credentials = parse_credentials(value)
        assert credentials is not None
        return credentials

    def assertCorrect(self, c: Credentials, method="INVITE", body=b"", password="pw") -> None:
        """C{c} is the right answer, recomputed independently of the client."""
        ha1 = compute_ha1(c.algorithm, c.username, c.realm, password)
        expected = compute_response(
            c.algorithm,
            ha1,
            method=method,
            uri=c.uri,
            nonce=c.nonce,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
            body=body,
        )
        self.assertEqual(c.response, expected)


class ChoiceTests(ClientTestCase):
    def test_prefers_sha256_whatever_the_order(self) -> None:
        """Strongest first (RFC 7616 §3.7 local policy): no downgrade by reordering."""
        self.client.challenged([challenge("MD5", "m"), challenge("SHA-256", "s")])
        c = self.answer()
        self.assertEqual((c.algorithm, c.nonce), ("SHA-256", "s"))
        self.assertCorrect(c)

    def test_several_challenges_in_one_value(self) -> None:
        self.client.challenged([challenge("MD5", "m") + ", " + challenge("SHA-256", "s")])
        self.assertEqual(self.answer().algorithm, "SHA-256")

    def test_equal_strength_keeps_server_order(self) -> None:
        """Between SHA-256 and SHA-256-sess the topmost wins (RFC 8760 §2.4)."""
        self.client.challenged([challenge("SHA-256-sess", "a"), challenge("SHA-256", "b")])
        c = self.answer()
        self.assertEqual(c.algorithm, "SHA-256-sess")
        self.assertCorrect(c)

    def test_skips_what_it_cannot_answer(self) -> None:
        self.client.challenged(
            [
                challenge("SHA-1", "x"),
                challenge("SHA-256", "y", qop=("auth-conf",)),
                'Basic realm="pbx"',
                challenge("MD5", "z"),
            ]
        )
        self.assertEqual(self.answer().nonce, "z")

    def test_nothing_usable(self) -> None:
        self.assertRaises(DigestError, self.client.challenged, [challenge("SHA-1")])
        self.assertRaises(DigestError, self.client.challenged, ['Basic realm="x"'])
        self.assertRaises(DigestError, self.client.challenged, ['Digest realm="x"'])
        self.assertEqual(self.client.authorizations("INVITE", URI), [])

    def test_ha1_client_answers_only_what_it_holds(self) -> None:
        ha1 = compute_ha1("MD5", "alice", "pbx", "pw")
        client = DigestClient("alice", ha1={"md5": ha1.upper()}, random=counter())
        client.challenged([challenge("SHA-256", "s"), challenge("MD5", "m")])
        c = self.answer(client=client)
        self.assertEqual(c.algorithm, "MD5")
        self.assertCorrect(c)

    def test_needs_exactly_one_secret(self) -> None:
        self.assertRaises(ValueError, DigestClient, "alice")
        self.assertRaises(ValueError, DigestClient, "alice", "pw", ha1={})
        self.assertRaises(ValueError, DigestClient, "alice", ha1={"MD5": "nothex"})

    def test_one_answer_per_realm(self) -> None:
        """A forked request may be challenged by two realms (RFC 3261 §22.3)."""
        self.client.challenged([challenge(realm="a"), challenge(realm="b")])
        values = self.client.authorizations("INVITE", URI)
        self.assertEqual([parse_credentials(v).realm for v in values], ["a", "b"])


class AnswerTests(ClientTestCase):
    def test_nc_counts_requests_per_nonce(self) -> None:
        self.client.challenged([challenge("SHA-256")])
        first, second = self.answer(), self.answer("REGISTER")
        self.assertEqual((first.nc, second.nc), ("00000001", "00000002"))
        self.assertCorrect(second, method="REGISTER")
        self.client.challenged([challenge("SHA-256", nonce="n2")], sent=[])
        self.assertEqual(self.answer().nc, "00000001")

    def test_cnonce_from_injected_randomness(self) -> None:
        self.client.challenged([challenge()])
        a, b = self.answer(), self.answer()
        self.assertEqual(a.cnonce, base64.urlsafe_b64encode(bytes(12)).decode())
        self.assertNotEqual(a.cnonce, b.cnonce)

    def test_opaque_echoed(self) -> None:
        self.client.challenged([challenge()])
        self.assertEqual(self.answer().opaque, "op")

    def test_auth_int_only_when_alone(self) -> None:
        body = b"v=0\r\n"
        self.client.challenged([challenge(qop=("auth-int",))])
        c = self.answer(body=body)
        self.assertEqual(c.qop, "auth-int")
        self.assertCorrect(c, body=body)
        self.client.challenged([challenge(qop=("auth-int", "auth"), nonce="n2")])
        self.assertEqual(self.answer().qop, "auth")

    def test_rfc2069_challenge(self) -> None:
        """No qop offered: answer without qop, nc or cnonce (RFC 2069)."""
        self.client.challenged([challenge(qop=())])
        c = self.answer()
        self.assertEqual((c.qop, c.nc, c.cnonce), (None, None, None))
        self.assertCorrect(c)

    def test_sess_without_qop_is_unusable(self) -> None:
        """-sess needs a cnonce, which only exists with qop."""
        self.assertRaises(DigestError, self.client.challenged, [challenge("MD5-sess", qop=())])


class RetryTests(ClientTestCase):
    def sent(self) -> list[str]:
        return self.client.authorizations("INVITE", URI)

    def test_refused_after_fresh_nonce(self) -> None:
        """A plain re-challenge right after answering a fresh nonce: wrong password."""
        self.client.challenged([challenge(nonce="n1")])
        sent = self.sent()
        self.assertRaises(DigestError, self.client.challenged, [challenge(nonce="n2")], sent)

    def test_stale_retries_with_new_nonce(self) -> None:
        self.client.challenged([challenge(nonce="n1")])
        sent = self.sent()
        self.client.challenged([challenge(nonce="n2", stale=True)], sent)
        c = self.answer()
        self.assertEqual((c.nonce, c.nc), ("n2", "00000001"))

    def test_one_retry_after_reused_nonce(self) -> None:
        """A server that forgets nonces without stale=true gets one more try."""
        self.client.challenged([challenge(nonce="n1")])
        self.sent()
        sent = self.sent()  # nc 2
        self.client.challenged([challenge(nonce="n2")], sent)
        sent = self.sent()  # n2, nc 1
        self.assertRaises(DigestError, self.client.challenged, [challenge(nonce="n3")], sent)

    def test_other_realm_is_not_a_refusal(self) -> None:
        self.client.challenged([challenge(realm="uas")])
        sent = self.sent()
        self.client.challenged([challenge(realm="proxy", nonce="p")], sent)
        self.assertEqual(len(self.client.authorizations("INVITE", URI)), 2)
