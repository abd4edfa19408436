"""
L{roomkit_sip.sip.digest}: the digest math against the RFC examples, and the
challenge/credentials grammar.
"""

import hashlib

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip.digest import (
    ALGORITHMS,
    Challenge,
    Credentials,
    DigestError,
    canonical_algorithm,
    check_ha1,
    compute_ha1,
    compute_response,
    format_challenge,
    format_credentials,
    parse_auth_header,
    parse_challenges,
    parse_credentials,
    split_algorithm,
)

# RFC 7616 §3.9.1: user "Mufasa", password "Circle of Life", GET /dir/index.html.
RFC7616 = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
}
RFC7616_MD5 = "8ca523f5e9506fed4657c9700eebdbec"
RFC7616_SHA256 = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


class KnownAnswerTests(SynchronousTestCase):
    def _rfc7616(self, algorithm: str) -> str:
        ha1 = compute_ha1(algorithm, "Mufasa", RFC7616["realm"], "Circle of Life")
        return compute_response(
            algorithm,
            ha1,
            method="GET",
            uri="/dir/index.html",
            nonce=RFC7616["nonce"],
            qop="auth",
            nc="00000001",
            cnonce=RFC7616["cnonce"],
        )

    def test_rfc7616_md5(self) -> None:
        """RFC 7616 §3.9.1, MD5 response."""
        self.assertEqual(self._rfc7616("MD5"), RFC7616_MD5)

    def test_rfc7616_sha256(self) -> None:
        """RFC 7616 §3.9.1, SHA-256 response."""
        self.assertEqual(self._rfc7616("SHA-256"), RFC7616_SHA256)

    def test_rfc7616_authorization_header(self) -> None:
        """The RFC's own Authorization value parses into the fields that reproduce it."""
        value = (
            'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
            f'algorithm=SHA-256, nonce="{RFC7616["nonce"]}", nc=00000001, '
            f'cnonce="{RFC7616["cnonce"]}", qop=auth, response="{RFC7616_SHA256}", '
            f'opaque="{RFC7616["opaque"]}"'
        )
        c = parse_credentials(value)
        assert c is not None
        ha1 = compute_ha1(c.algorithm, c.username, c.realm, "Circle of Life")
        response = compute_response(
            c.algorithm,
            ha1,
            method="GET",
            uri=c.uri,
            nonce=c.nonce,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
        )
        self.assertEqual(response, c.response)
        self.assertEqual(c.opaque, RFC7616["opaque"])

    def test_rfc2617(self) -> None:
        """RFC 2617 §3.5: "Circle Of Life" in testrealm@host.com."""
        ha1 = compute_ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
        response = compute_response(
            "MD5",
            ha1,
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc="00000001",
            cnonce="0a4f113b",
        )
        self.assertEqual(response, "6629fae49393a05397450978507c4ef1")

    def test_sha512_256_is_not_truncated_sha512(self) -> None:
        """SHA-512/256 has its own initial values (FIPS 180-4 §5.3.6), unlike a cut SHA-512."""
        ha1 = compute_ha1("SHA-512-256", "u", "r", "p")
        self.assertEqual(ha1, hashlib.new("sha512_256", b"u:r:p").hexdigest())
        self.assertNotEqual(ha1, hashlib.sha512(b"u:r:p").hexdigest()[:64])


class MathTests(SynchronousTestCase):
    HA1 = compute_ha1("MD5", "alice", "r", "pw")
    COMMON = {"method": "INVITE", "uri": "sip:bob@h", "nonce": "n1"}

    def test_sess_rehashes_ha1(self) -> None:
        """MD5-sess uses H(HA1:nonce:cnonce) as HA1 (RFC 7616 §3.4.2)."""
        sess_ha1 = hashlib.md5(f"{self.HA1}:n1:c1".encode()).hexdigest()
        plain = dict(self.COMMON, qop="auth", nc="00000001", cnonce="c1")
        self.assertEqual(
            compute_response("MD5-sess", self.HA1, **plain),
            compute_response("MD5", sess_ha1, **plain),
        )

    def test_sess_without_cnonce(self) -> None:
        self.assertRaises(DigestError, compute_response, "SHA-256-sess", "0" * 64, **self.COMMON)

    def test_rfc2069_form(self) -> None:
        """Without qop the response is H(HA1:nonce:HA2) (RFC 2069 §2.1.2)."""
        ha2 = hashlib.md5(b"INVITE:sip:bob@h").hexdigest()
        expected = hashlib.md5(f"{self.HA1}:n1:{ha2}".encode()).hexdigest()
        self.assertEqual(compute_response("MD5", self.HA1, **self.COMMON), expected)

    def test_auth_int_covers_the_body(self) -> None:
        """qop=auth-int puts H(body) in HA2 (RFC 7616 §3.4.3): the body changes the answer."""
        args = dict(self.COMMON, qop="auth-int", nc="00000001", cnonce="c")
        a = compute_response("SHA-256", "0" * 64, body=b"v=0\r\n", **args)
        b = compute_response("SHA-256", "0" * 64, body=b"v=1\r\n", **args)
        self.assertNotEqual(a, b)
        auth = dict(self.COMMON, qop="auth", nc="00000001", cnonce="c")
        self.assertEqual(
            compute_response("SHA-256", "0" * 64, body=b"v=0\r\n", **auth),
            compute_response("SHA-256", "0" * 64, body=b"v=1\r\n", **auth),
        )

    def test_utf8_username(self) -> None:
        """Strings are hashed as UTF-8 (RFC 7616 §4)."""
        self.assertEqual(
            compute_ha1("MD5", "Jäsøn", "r", "p"),
            hashlib.md5("Jäsøn:r:p".encode()).hexdigest(),
        )

    def test_algorithm_names(self) -> None:
        self.assertEqual(canonical_algorithm("sha-256-SESS"), "SHA-256-sess")
        self.assertIsNone(canonical_algorithm("SHA-1"))
        self.assertEqual(split_algorithm("md5-sess"), ("MD5", True))
        self.assertRaises(DigestError, split_algorithm, "AKAv1-MD5")
        self.assertEqual(len(ALGORITHMS), 6)

    def test_check_ha1(self) -> None:
        self.assertEqual(check_ha1("MD5", "AB" * 16), "ab" * 16)
        self.assertRaises(ValueError, check_ha1, "MD5", "ab" * 32)
        self.assertRaises(ValueError, check_ha1, "SHA-256", "zz" * 32)
        self.assertRaises(ValueError, check_ha1, "SHA-256-sess", "ab" * 32)


class AuthHeaderGrammarTests(SynchronousTestCase):
    def test_quoted_commas_and_escapes(self) -> None:
        """Commas inside quotes are data; a backslash escapes the next character."""
        [(scheme, params)] = parse_auth_header(r'Digest realm="a, \"b\" \\c", nonce=tok')
        self.assertEqual(scheme, "Digest")
        self.assertEqual(params, {"realm": 'a, "b" \\c', "nonce": "tok"})

    def test_names_are_case_insensitive(self) -> None:
        [(_, params)] = parse_auth_header('digest REALM="r" ,  Nonce = "n"')
        self.assertEqual(params, {"realm": "r", "nonce": "n"})

    def test_several_challenges_in_one_value(self) -> None:
        items = parse_auth_header(
            'Digest realm="r", nonce="1", algorithm=SHA-256, Basic realm="x", '
            'Digest realm="r", nonce="2"'
        )
        self.assertEqual(
            [(s, p.get("nonce")) for s, p in items],
            [("Digest", "1"), ("Basic", None), ("Digest", "2")],
        )

    def test_token68(self) -> None:
        """A token68 (RFC 7235 §2.1) does not derail the parse of what follows."""
        items = parse_auth_header('Basic QWxhZGRpbjpvcGVu==, Digest realm="r", nonce="n"')
        self.assertEqual(items[0], ("Basic", {"": "QWxhZGRpbjpvcGVu=="}))
        self.assertEqual(items[1][1]["nonce"], "n")

    def test_malformed(self) -> None:
        for value in (
            'Digest realm="unterminated',
            'Digest realm="r" nonce="n"',
            'Digest realm="r", realm="s"',
            'realm="r"',
            'Digest realm="r", =x',
            'Digest realm="a\x01b"',
        ):
            self.assertRaises(DigestError, parse_auth_header, value)


class ChallengeTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        challenge = Challenge('r "x"', "n", "SHA-256", ("auth",), "o", True)
        text = format_challenge(challenge)
        self.assertEqual(
            text,
            r'Digest realm="r \"x\"", nonce="n", opaque="o", algorithm=SHA-256, '
            'qop="auth", stale=true',
        )
        self.assertEqual(parse_challenges(text), [challenge])

    def test_defaults_and_lists(self) -> None:
        """No algorithm means MD5 (RFC 7616 §3.3); qop is a quoted list."""
        [c] = parse_challenges('Digest realm="r", nonce="n", qop="auth, auth-int", stale=TRUE')
        self.assertEqual((c.algorithm, c.qop, c.stale), ("MD5", ("auth", "auth-int"), True))

    def test_unknown_algorithm_is_kept(self) -> None:
        [c] = parse_challenges('Digest realm="r", nonce="n", algorithm=SHA-1')
        self.assertEqual(c.algorithm, "SHA-1")

    def test_other_schemes_skipped(self) -> None:
        self.assertEqual(parse_challenges('Basic realm="r"'), [])

    def test_needs_realm_and_nonce(self) -> None:
        self.assertRaises(DigestError, parse_challenges, 'Digest realm="r"')
        self.assertRaises(DigestError, parse_challenges, 'Digest nonce="n"')
        # Grammatical as a token68, but a Digest challenge has parameters.
        self.assertRaises(DigestError, parse_challenges, "Digest realm=")

    def test_no_line_breaks(self) -> None:
        """A CR or LF in a value would split the header: refuse to write it."""
        self.assertRaises(ValueError, format_challenge, Challenge("r\r\nX: y", "n"))


class CredentialsTests(SynchronousTestCase):
    BASE = 'Digest username="alice", realm="r", nonce="n", uri="sip:b@h", response="ABCDEF01"'

    def test_minimal_rfc2069(self) -> None:
        c = parse_credentials(self.BASE)
        self.assertEqual(
            c, Credentials("alice", "r", "n", "sip:b@h", "abcdef01", "MD5", None, None, None)
        )

    def test_round_trip(self) -> None:
        c = Credentials(
            "a\\b", "r", "n", "sip:b@h", "ab" * 16, "SHA-256-sess", "auth", "0000000a", "c n", "o"
        )
        text = format_credentials(c)
        self.assertIn("qop=auth, nc=0000000a", text)
        self.assertEqual(parse_credentials(text), c)

    def test_not_digest(self) -> None:
        self.assertIsNone(parse_credentials("Basic QWxhZGRpbjpvcGVu"))
        self.assertIsNone(parse_credentials("Bearer abc.def"))

    def test_quoted_tokens_accepted(self) -> None:
        """Old clients quote qop and algorithm; recipients accept both forms."""
        c = parse_credentials(self.BASE + ', algorithm="md5", qop="AUTH", nc=00000001, cnonce=x')
        assert c is not None
        self.assertEqual((c.algorithm, c.qop, c.nc, c.cnonce), ("MD5", "auth", "00000001", "x"))

    def test_extended_username(self) -> None:
        """username* carries non-ASCII names (RFC 7616 §3.4.4, RFC 8187)."""
        value = self.BASE.replace('username="alice"', "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe")
        c = parse_credentials(value)
        assert c is not None
        self.assertEqual(c.username, "Jäsøn Doe")

    def test_malformed(self) -> None:
        bad = [
            self.BASE.replace('username="alice", ', ""),
            self.BASE.replace(', uri="sip:b@h"', ""),
            self.BASE.replace('"ABCDEF01"', '"xyz"'),
            self.BASE + ", qop=auth",
            self.BASE + ", qop=auth, nc=1, cnonce=x",
            self.BASE + ", qop=auth, nc=00000000, cnonce=x",
            self.BASE + ", qop=auth, nc=0000000g, cnonce=x",
            self.BASE + ", nc=00000001",
            self.BASE + ", userhash=true",
            self.BASE + ", username*=UTF-8''x",
            self.BASE.replace('username="alice"', "username*=latin-1''x"),
            self.BASE.replace('username="alice"', "username*=UTF-8''%FF"),
            self.BASE + ', Digest username="x"',
            'Digest username="alice" realm="r"',
        ]
        for value in bad:
            self.assertRaises(DigestError, parse_credentials, value)
