"""
L{roomkit_sip.auth.authenticator}: the inbound flow the call engine runs, end
to end with L{DigestClient}, a fake provider and a Clock.
"""

import random

from twisted.internet.defer import CancelledError, Deferred, TimeoutError, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from roomkit_sip.auth.authenticator import (
    AuthAccepted,
    AuthBadRequest,
    AuthChallenge,
    AuthForbidden,
    AuthServerError,
    DigestAuthenticator,
)
from roomkit_sip.auth.digest_client import DigestClient
from roomkit_sip.auth.digest_server import NONCE_LIFETIME
from roomkit_sip.auth.providers import DictAuthProvider
from roomkit_sip.auth.throttle import MAX_FAILURES, FailureThrottle
from roomkit_sip.interfaces import IAuthProvider
from roomkit_sip.sip.digest import compute_ha1, compute_response, parse_challenges

REALM = "roomkit"
SECRET = b"s" * 32
URI = "sip:agent@10.0.0.5:5060"
SOURCE = "203.0.113.9"


@implementer(IAuthProvider)
class RecordingProvider:
    """Answers from C{users} (values may be Deferreds or exceptions) and records lookups."""

    def __init__(self, users: dict) -> None:
        self.users = users
        self.lookups: list[tuple[str, str]] = []

    def lookup(self, realm: str, username: str):
        self.lookups.append((realm, username))
        result = self.users.get(username)
        if isinstance(result, Exception):
            raise result
        return result


class AuthenticatorTestCase(SynchronousTestCase):
    proxy = False

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.provider = RecordingProvider({"alice": "wonderland"})
        self.auth = self.make()

    def make(self, **kw) -> DigestAuthenticator:
        kw.setdefault("random", random.Random(1).randbytes)
        return DigestAuthenticator(
            self.provider,
            REALM,
            SECRET,
            self.clock,
            FailureThrottle(self.clock),
            proxy=self.proxy,
            **kw,
        )

    def attempt(self, values=(), method="INVITE", uri=URI, source=SOURCE):
        return self.auth.authenticate(method, uri, list(values), source)

    def outcome(self, values=(), **kw):
        return self.successResultOf(self.attempt(values, **kw))

    def credentials(
        self, password="wonderland", username="alice", challenge=None, method="INVITE", uri=URI
    ) -> list[str]:
        """Challenge (unless given), answer it as a client would."""
        challenge = challenge or self.outcome()
        client = DigestClient(username, password, random=random.Random(2).randbytes)
        client.challenged([value for _, value in challenge.headers])
        return client.authorizations(method, uri)


class ChallengeTests(AuthenticatorTestCase):
    def test_no_credentials(self) -> None:
        """The first INVITE gets 401 with SHA-256 then MD5 (RFC 8760 §2.4)."""
        outcome = self.outcome()
        self.assertIsInstance(outcome, AuthChallenge)
        self.assertEqual((outcome.status, outcome.stale), (401, False))
        names = [name for name, _ in outcome.headers]
        self.assertEqual(names, ["WWW-Authenticate", "WWW-Authenticate"])
        algorithms = [parse_challenges(v)[0].algorithm for _, v in outcome.headers]
        self.assertEqual(algorithms, ["SHA-256", "MD5"])
        self.assertEqual(self.provider.lookups, [])
        self.assertEqual(self.auth.credentials_header, "Authorization")

    def test_foreign_realm_and_basic_ignored(self) -> None:
        """Credentials for other realms or schemes are someone else's (RFC 3261 §22.3)."""
        other = self.credentials()[0].replace(f'realm="{REALM}"', 'realm="carrier"')
        outcome = self.outcome([other, "Basic YWxpY2U6d29uZGVybGFuZA=="])
        self.assertIsInstance(outcome, AuthChallenge)
        self.assertEqual(self.provider.lookups, [])

    def test_nonce_not_ours(self) -> None:
        """After a restart with a new secret, old nonces just earn a new challenge."""
        values = self.credentials()
        self.auth = DigestAuthenticator(self.provider, REALM, b"n" * 32, self.clock)
        outcome = self.outcome(values)
        self.assertIsInstance(outcome, AuthChallenge)
        self.assertFalse(outcome.stale)
        self.assertEqual(self.provider.lookups, [])


class ProxyChallengeTests(AuthenticatorTestCase):
    proxy = True

    def test_407(self) -> None:
        outcome = self.outcome()
        self.assertEqual(outcome.status, 407)
        self.assertEqual({n for n, _ in outcome.headers}, {"Proxy-Authenticate"})
        self.assertEqual(self.auth.credentials_header, "Proxy-Authorization")
        self.assertEqual(self.outcome(self.credentials()), AuthAccepted("alice", "SHA-256"))


class AcceptTests(AuthenticatorTestCase):
    def test_accepted(self) -> None:
        self.assertEqual(self.outcome(self.credentials()), AuthAccepted("alice", "SHA-256"))
        self.assertEqual(self.provider.lookups, [(REALM, "alice")])

    def test_picks_our_credentials_among_several(self) -> None:
        ours = self.credentials()
        stranger = ours[0].replace('nonce="', 'nonce="x')
        self.assertEqual(self.outcome([stranger] + ours), AuthAccepted("alice", "SHA-256"))

    def test_deferred_provider(self) -> None:
        d: Deferred[str] = Deferred()
        self.provider.users["alice"] = d
        result = self.attempt(self.credentials())
        self.assertNoResult(result)
        d.callback("wonderland")
        self.assertEqual(self.successResultOf(result), AuthAccepted("alice", "SHA-256"))

    def test_rfc2069_client(self) -> None:
        """An MD5 client that ignores qop is still served (RFC 3261 §22.4)."""
        [_, md5] = self.outcome().headers
        nonce = parse_challenges(md5[1])[0].nonce
        ha1 = compute_ha1("MD5", "alice", REALM, "wonderland")
        response = compute_response("MD5", ha1, method="INVITE", uri=URI, nonce=nonce)
        value = (
            f'Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="{URI}", '
            f'response="{response}"'
        )
        self.assertEqual(self.outcome([value]), AuthAccepted("alice", "MD5"))


class RejectTests(AuthenticatorTestCase):
    def test_wrong_password_is_403_after_delay(self) -> None:
        result = self.attempt(self.credentials(password="guess"))
        self.assertNoResult(result)
        self.clock.advance(0.5)
        forbidden = AuthForbidden("wrong user name or password")
        self.assertEqual(self.successResultOf(result), forbidden)

    def test_unknown_user_is_indistinguishable(self) -> None:
        """Same outcome, same delay as a wrong password; only the log knows."""
        wrong = self.attempt(self.credentials(password="guess"), source="198.51.100.1")
        unknown = self.attempt(self.credentials(username="mallory"), source="198.51.100.2")
        self.assertNoResult(wrong)
        self.assertNoResult(unknown)
        self.clock.advance(0.5)
        self.assertEqual(self.successResultOf(wrong), self.successResultOf(unknown))

    def test_throttled_without_lookup(self) -> None:
        for _ in range(MAX_FAILURES):
            self.attempt(self.credentials(password="guess"))
            self.clock.advance(5)  # ten failures inside the 60 s window
        lookups = len(self.provider.lookups)
        self.assertEqual(self.outcome(), AuthForbidden("too many failures from this source"))
        right = self.credentials(challenge=self.outcome(source="192.0.2.7"))
        outcome = self.outcome(right)  # even the right password
        self.assertEqual(outcome, AuthForbidden("too many failures from this source"))
        self.assertEqual(len(self.provider.lookups), lookups)
        self.assertIsInstance(self.outcome(right, source="192.0.2.7"), AuthAccepted)

    def test_success_resets_throttle(self) -> None:
        for _ in range(MAX_FAILURES - 1):
            self.attempt(self.credentials(password="guess"))
            self.clock.advance(5)
        self.clock.advance(8)  # let the held-back 403s go
        self.assertIsInstance(self.outcome(self.credentials()), AuthAccepted)
        result = self.attempt(self.credentials(password="guess"))
        self.assertNoResult(result)
        self.clock.advance(0.5)  # the first penalty again, not the eighth
        self.assertIsInstance(self.successResultOf(result), AuthForbidden)

    def test_cancel_during_penalty(self) -> None:
        """A CANCEL that arrives while the 403 is held back just drops it, quietly."""
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        result = self.attempt(self.credentials(password="guess"))
        result.cancel()
        self.failureResultOf(result, CancelledError)
        self.assertFalse([e for e in events if "log_failure" in e])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class NonceLifecycleTests(AuthenticatorTestCase):
    def test_stale(self) -> None:
        values = self.credentials()
        self.clock.advance(NONCE_LIFETIME + 1)
        outcome = self.outcome(values)
        self.assertIsInstance(outcome, AuthChallenge)
        self.assertTrue(outcome.stale)
        self.assertIn("stale=true", outcome.headers[0][1])
        retry = self.credentials(challenge=outcome)
        self.assertIsInstance(self.outcome(retry), AuthAccepted)

    def test_replay_is_not_accepted(self) -> None:
        values = self.credentials()
        self.assertIsInstance(self.outcome(values), AuthAccepted)
        outcome = self.outcome(values)
        self.assertIsInstance(outcome, AuthChallenge)
        self.assertTrue(outcome.stale)


class BadRequestTests(AuthenticatorTestCase):
    def test_malformed(self) -> None:
        outcome = self.outcome(['Digest username="alice", realm="roomkit"'])
        self.assertIsInstance(outcome, AuthBadRequest)
        self.assertEqual(outcome.status, 400)
        self.assertEqual(self.provider.lookups, [])

    def test_uri_mismatch(self) -> None:
        values = self.credentials(uri="sip:someone-else@10.0.0.6")
        self.assertEqual(
            self.outcome(values), AuthBadRequest("digest uri does not match the Request-URI")
        )


class StoredHA1Tests(AuthenticatorTestCase):
    def test_md5_only_store_rechallenges_with_md5(self) -> None:
        """An htdigest store has MD5 only: a SHA-256 answer earns an MD5-only challenge."""
        self.provider.users["alice"] = {"MD5": compute_ha1("MD5", "alice", REALM, "wonderland")}
        outcome = self.outcome(self.credentials())
        self.assertIsInstance(outcome, AuthChallenge)
        self.assertEqual([parse_challenges(v)[0].algorithm for _, v in outcome.headers], ["MD5"])
        retry = self.credentials(challenge=outcome)
        self.assertEqual(self.outcome(retry), AuthAccepted("alice", "MD5"))

    def test_store_without_offered_algorithm(self) -> None:
        self.provider.users["alice"] = {"SHA-512-256": "0" * 64}
        outcome = self.outcome(self.credentials())
        self.assertIsInstance(outcome, AuthForbidden)


class ProviderFailureTests(AuthenticatorTestCase):
    def test_provider_raises(self) -> None:
        self.provider.users["alice"] = RuntimeError("database down")
        outcome = self.outcome(self.credentials())
        self.assertEqual(outcome, AuthServerError("authentication backend failed"))
        self.assertEqual(outcome.status, 500)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_provider_deferred_fails(self) -> None:
        self.provider.users["alice"] = fail(RuntimeError("timeout"))
        self.assertIsInstance(self.outcome(self.credentials()), AuthServerError)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_provider_returns_nonsense(self) -> None:
        self.provider.users["alice"] = succeed(42)
        self.assertIsInstance(self.outcome(self.credentials()), AuthServerError)
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def test_provider_hangs(self) -> None:
        self.provider.users["alice"] = Deferred()
        result = self.attempt(self.credentials())
        self.clock.advance(9.9)
        self.assertNoResult(result)
        self.clock.advance(0.1)
        self.assertIsInstance(self.successResultOf(result), AuthServerError)
        self.assertEqual(len(self.flushLoggedErrors(TimeoutError)), 1)


class ProviderResultTests(AuthenticatorTestCase):
    """What real and third-party providers hand back."""

    def test_with_dict_provider(self) -> None:
        self.provider = DictAuthProvider({"alice": "wonderland"})  # type: ignore[assignment]
        self.auth = self.make()
        self.assertIsInstance(self.outcome(self.credentials()), AuthAccepted)

    def test_third_party_mapping_keys_normalised(self) -> None:
        """A provider may spell algorithms in any case; a malformed HA1 is a 500."""
        ha1 = compute_ha1("SHA-256", "alice", REALM, "wonderland")
        self.provider.users["alice"] = {"sha-256": ha1.upper()}
        self.assertEqual(self.outcome(self.credentials()), AuthAccepted("alice", "SHA-256"))
        self.provider.users["alice"] = {"SHA-256": "not hex"}
        self.assertIsInstance(self.outcome(self.credentials()), AuthServerError)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
