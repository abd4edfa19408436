"""L{roomkit_sip.auth.htdigest}: the file format, its errors, and reloading."""

import os
import shutil
import tempfile

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.auth.htdigest import HtdigestFileAuthProvider, parse_htdigest
from roomkit_sip.interfaces import IAuthProvider
from roomkit_sip.sip.digest import compute_ha1

MD5 = compute_ha1("MD5", "alice", "roomkit", "pw")
SHA = compute_ha1("SHA-256", "alice", "roomkit", "pw")


class ParseTests(SynchronousTestCase):
    def test_apache_lines(self) -> None:
        """Three fields, as C{htdigest} writes them; comments and blanks skipped."""
        table = parse_htdigest(
            ["# users\n", "\n", f"alice:roomkit:{MD5}\n", f"alice:other:{MD5.upper()}\r\n"], "f"
        )
        self.assertEqual(
            table, {("roomkit", "alice"): {"MD5": MD5}, ("other", "alice"): {"MD5": MD5}}
        )

    def test_sha256_field(self) -> None:
        table = parse_htdigest([f"alice:roomkit:{MD5}:{SHA}", f"bob:roomkit::{SHA}"], "f")
        self.assertEqual(table[("roomkit", "alice")], {"MD5": MD5, "SHA-256": SHA})
        self.assertEqual(table[("roomkit", "bob")], {"SHA-256": SHA})

    def test_errors_name_file_and_line(self) -> None:
        cases = {
            "alice:roomkit": "expected user:realm",
            f"alice:roomkit:{MD5}:{SHA}:extra": "expected user:realm",
            f":roomkit:{MD5}": "empty user or realm",
            "alice:roomkit:xyz": "not a MD5 HA1",
            f"alice:roomkit:{MD5}:{MD5}": "not a SHA-256 HA1",
            "alice:roomkit:": "no HA1",
        }
        for line, problem in cases.items():
            e = self.assertRaises(ValueError, parse_htdigest, ["# header", line], "/etc/u")
            self.assertTrue(str(e).startswith("/etc/u:2: "), str(e))
            self.assertIn(problem, str(e))

    def test_duplicate(self) -> None:
        lines = [f"alice:roomkit:{MD5}", f"alice:roomkit:{MD5}"]
        e = self.assertRaises(ValueError, parse_htdigest, lines, "f")
        self.assertIn("f:2:", str(e))


class FileProviderTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        self.path = os.path.join(directory, "users.htdigest")
        self.write(f"alice:roomkit:{MD5}\n")
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def write(self, text: str | bytes, mtime: int = 1_000_000_000) -> None:
        with open(self.path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        # Distinct, explicit mtimes: a reload must not hinge on the file
        # system's timestamp granularity.
        os.utime(self.path, ns=(mtime * 10**9, mtime * 10**9))

    def test_interface_and_lookup(self) -> None:
        provider = HtdigestFileAuthProvider(self.path)
        self.assertTrue(verifyObject(IAuthProvider, provider))
        self.assertEqual(provider.lookup("roomkit", "alice"), {"MD5": MD5})
        self.assertIsNone(provider.lookup("other", "alice"))
        self.assertIsNone(provider.lookup("roomkit", "bob"))

    def test_reload_on_change(self) -> None:
        provider = HtdigestFileAuthProvider(self.path)
        self.write(f"alice:roomkit:{MD5}:{SHA}\nbob:roomkit:{MD5}\n", mtime=1_000_000_100)
        self.assertEqual(provider.lookup("roomkit", "alice"), {"MD5": MD5, "SHA-256": SHA})
        self.assertIsNotNone(provider.lookup("roomkit", "bob"))
        self.assertEqual([e["count"] for e in self.events if "count" in e], [2])

    def test_no_reread_when_unchanged(self) -> None:
        provider = HtdigestFileAuthProvider(self.path)
        for _ in range(3):
            provider.lookup("roomkit", "alice")
        self.assertEqual(len(self.events), 0)

    def test_bad_reload_keeps_users(self) -> None:
        """A half-written file is logged and ignored until it changes again."""
        provider = HtdigestFileAuthProvider(self.path)
        self.write("alice:roomkit:\n", mtime=1_000_000_100)
        self.assertEqual(provider.lookup("roomkit", "alice"), {"MD5": MD5})
        provider.lookup("roomkit", "alice")
        [event] = self.events
        self.assertEqual(event["log_level"], LogLevel.error)
        self.assertIn(f"{self.path}:1:", event["error"])
        self.write(f"bob:roomkit:{MD5}\n", mtime=1_000_000_200)
        self.assertIsNone(provider.lookup("roomkit", "alice"))
        self.assertIsNotNone(provider.lookup("roomkit", "bob"))

    def test_vanished_file_keeps_users(self) -> None:
        provider = HtdigestFileAuthProvider(self.path)
        os.remove(self.path)
        self.assertEqual(provider.lookup("roomkit", "alice"), {"MD5": MD5})
        provider.lookup("roomkit", "alice")
        self.assertEqual(len(self.events), 1)  # logged once, not per lookup
        self.write(f"bob:roomkit:{MD5}\n")
        self.assertIsNotNone(provider.lookup("roomkit", "bob"))

    def test_construction_errors_name_the_file(self) -> None:
        missing = self.path + ".missing"
        e = self.assertRaises(ValueError, HtdigestFileAuthProvider, missing)
        self.assertIn(missing, str(e))
        self.write("alice:roomkit\n")
        e = self.assertRaises(ValueError, HtdigestFileAuthProvider, self.path)
        self.assertIn(f"{self.path}:1:", str(e))
        self.write(b"\xff\xfe:roomkit:" + MD5.encode())
        e = self.assertRaises(ValueError, HtdigestFileAuthProvider, self.path)
        self.assertIn(self.path, str(e))
