"""
L{roomkit_sip.auth.factories} and C{twisted/plugins/roomkit_sip_auth.py}: the
C{memory} and C{htdigest} plugins, and C{--auth TYPE:ARGUMENT}.
"""

import ast
import os
import pathlib
import shutil
import tempfile

from twisted.plugin import IPlugin, getPlugins
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import twisted.plugins.roomkit_sip_auth as plugin
from roomkit_sip.auth import factories
from roomkit_sip.auth.factories import (
    HtdigestAuthProviderFactory,
    MemoryAuthProviderFactory,
    make_provider,
)
from roomkit_sip.auth.htdigest import HtdigestFileAuthProvider
from roomkit_sip.interfaces import IAuthProvider, IAuthProviderFactory
from roomkit_sip.sip.digest import compute_ha1

MD5 = compute_ha1("MD5", "alice", "roomkit", "pw")


class PluginTests(SynchronousTestCase):
    def test_discovered(self) -> None:
        """getPlugins finds both built-ins, each a verified IAuthProviderFactory and IPlugin."""
        found = {f.authType: f for f in getPlugins(IAuthProviderFactory)}
        self.assertIsInstance(found.get("memory"), MemoryAuthProviderFactory)
        self.assertIsInstance(found.get("htdigest"), HtdigestAuthProviderFactory)
        for factory in (found["memory"], found["htdigest"]):
            self.assertTrue(verifyObject(IAuthProviderFactory, factory))
            self.assertTrue(IPlugin.providedBy(factory))
            self.assertTrue(factory.authHelp and factory.argumentFormat)

    def test_plugin_module_is_light(self) -> None:
        """twistd imports every plugin: ours loads providers only inside C{create}."""
        allowed = {
            "__future__",
            "twisted.plugin",
            "zope.interface",
            "roomkit_sip.interfaces",
            "roomkit_sip.auth.factories",
        }
        for module in (plugin, factories):
            tree = ast.parse(pathlib.Path(module.__file__).read_text())
            top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)} | {
                alias.name
                for node in tree.body
                if isinstance(node, ast.Import)
                for alias in node.names
            }
            self.assertLessEqual(top_level, allowed, module.__name__)


class MemoryFactoryTests(SynchronousTestCase):
    factory = MemoryAuthProviderFactory()

    def test_users(self) -> None:
        provider = self.factory.create("alice:secret,bob:pa:ss")
        self.assertTrue(verifyObject(IAuthProvider, provider))
        self.assertEqual(provider.lookup("roomkit", "alice"), "secret")
        self.assertEqual(provider.lookup("roomkit", "bob"), "pa:ss")
        self.assertIsNone(provider.lookup("roomkit", "carol"))

    def test_bad_arguments(self) -> None:
        for argument, problem in (
            ("", "expected user:password"),
            ("alice", "expected user:password"),
            (":secret", "expected user:password"),
            ("alice:a,alice:b", "given twice"),
            ("alice:a,,bob:b", "expected user:password"),
        ):
            e = self.assertRaises(ValueError, self.factory.create, argument)
            self.assertIn(problem, str(e))
            self.assertNotIn("\n", str(e))


class HtdigestFactoryTests(SynchronousTestCase):
    factory = HtdigestAuthProviderFactory()

    def setUp(self) -> None:
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        self.path = os.path.join(directory, "users")
        with open(self.path, "w") as f:
            f.write(f"alice:roomkit:{MD5}\n")

    def test_file(self) -> None:
        provider = self.factory.create(self.path)
        self.assertIsInstance(provider, HtdigestFileAuthProvider)
        self.assertEqual(provider.lookup("roomkit", "alice"), {"MD5": MD5})

    def test_bad_arguments(self) -> None:
        for argument in ("", self.path + ".missing"):
            e = self.assertRaises(ValueError, self.factory.create, argument)
            self.assertNotIn("\n", str(e))


class MakeProviderTests(SynchronousTestCase):
    def test_by_type(self) -> None:
        provider = make_provider("memory:alice:secret")
        self.assertEqual(provider.lookup("roomkit", "alice"), "secret")

    def test_unknown_type(self) -> None:
        e = self.assertRaises(ValueError, make_provider, "ldap:cn=users")
        self.assertIn("'ldap'", str(e))
        self.assertIn("htdigest", str(e))
        self.assertIn("memory", str(e))
