"""L{roomkit_sip.auth.providers}: roomkit's C{auth_users} and C{set_auth_resolver} shapes."""

import warnings

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.auth.providers import DictAuthProvider, ResolverAuthProvider, ha1_table
from roomkit_sip.interfaces import IAuthProvider
from roomkit_sip.sip.digest import compute_ha1

MD5 = compute_ha1("MD5", "bob", "roomkit", "pw")
SHA = compute_ha1("SHA-256", "bob", "roomkit", "pw")


class HA1TableTests(SynchronousTestCase):
    def test_normalises(self) -> None:
        self.assertEqual(
            ha1_table({"md5": MD5.upper(), "sha-256": SHA}), {"MD5": MD5, "SHA-256": SHA}
        )

    def test_refuses(self) -> None:
        for bad in ({}, {"SHA-1": MD5}, {"MD5-sess": MD5}, {"MD5": SHA}, {"SHA-256": "x"}):
            self.assertRaises(ValueError, ha1_table, bad)


class DictAuthProviderTests(SynchronousTestCase):
    def test_interface(self) -> None:
        self.assertTrue(verifyObject(IAuthProvider, DictAuthProvider({})))

    def test_passwords_and_ha1s(self) -> None:
        provider = DictAuthProvider({"alice": "secret", "bob": {"md5": MD5, "SHA-256": SHA}})
        self.assertEqual(provider.lookup("roomkit", "alice"), "secret")
        self.assertEqual(provider.lookup("roomkit", "bob"), {"MD5": MD5, "SHA-256": SHA})
        self.assertIsNone(provider.lookup("roomkit", "carol"))

    def test_copied_at_construction(self) -> None:
        users = {"alice": "secret"}
        provider = DictAuthProvider(users)
        users["alice"] = "changed"
        provider.lookup("roomkit", "bob")
        self.assertEqual(provider.lookup("roomkit", "alice"), "secret")

    def test_returned_mapping_is_a_copy(self) -> None:
        provider = DictAuthProvider({"bob": {"MD5": MD5}})
        provider.lookup("r", "bob")["MD5"] = "0" * 32
        self.assertEqual(provider.lookup("r", "bob"), {"MD5": MD5})

    def test_bad_entries_fail_early(self) -> None:
        e = self.assertRaises(ValueError, DictAuthProvider, {"bob": {"MD5": "nothex"}})
        self.assertIn("'bob'", str(e))
        self.assertRaises(TypeError, DictAuthProvider, {"bob": 42})


class ResolverAuthProviderTests(SynchronousTestCase):
    def test_interface(self) -> None:
        self.assertTrue(verifyObject(IAuthProvider, ResolverAuthProvider(lambda u: None)))

    def test_sync(self) -> None:
        asked = []

        def resolver(username: str) -> str | None:
            asked.append(username)
            return "pw" if username == "alice" else None

        provider = ResolverAuthProvider(resolver)
        self.assertEqual(provider.lookup("roomkit", "alice"), "pw")
        self.assertIsNone(provider.lookup("roomkit", "mallory"))
        self.assertEqual(asked, ["alice", "mallory"])

    def test_deferred_passes_through(self) -> None:
        d: Deferred[str] = Deferred()
        provider = ResolverAuthProvider(lambda u: d)
        result = provider.lookup("roomkit", "alice")
        self.assertIs(result, d)
        self.assertEqual(
            self.successResultOf(ResolverAuthProvider(lambda u: succeed("pw")).lookup("r", "u")),
            "pw",
        )

    def test_coroutine_refused_cleanly(self) -> None:
        """A coroutine is refused with a hint, and closed so no 'never awaited' warning."""

        async def resolver(username: str) -> str:
            return "pw"

        provider = ResolverAuthProvider(resolver)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            e = self.assertRaises(TypeError, provider.lookup, "roomkit", "alice")
        self.assertIn("asyncio adapter", str(e))

    def test_not_callable(self) -> None:
        self.assertRaises(TypeError, ResolverAuthProvider, "pw")
