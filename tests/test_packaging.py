"""The distribution's shape: twistd plugin discovery and the package constants."""

import pathlib

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip

ROOT = pathlib.Path(__file__).resolve().parent.parent


class TwistdPluginTests(SynchronousTestCase):
    def test_service_maker_is_discovered(self) -> None:
        """twistd lists C{roomkit-sip} because the plugin is discoverable."""
        makers = [m for m in getPlugins(IServiceMaker) if m.tapname == "roomkit-sip"]
        self.assertEqual(len(makers), 1)
        self.assertEqual(makers[0].module, "roomkit_sip.tap")

    def test_plugins_folder_is_not_a_package(self) -> None:
        """An __init__.py in twisted/plugins would shadow Twisted's own plugins."""
        self.assertTrue((ROOT / "twisted" / "plugins").is_dir())
        self.assertFalse((ROOT / "twisted" / "plugins" / "__init__.py").exists())
        self.assertFalse((ROOT / "twisted" / "__init__.py").exists())


class ConstantsTests(SynchronousTestCase):
    def test_static_payload_types(self) -> None:
        """RFC 3551 static payload types, as roomkit's backend exports them."""
        self.assertEqual(
            (roomkit_sip.PT_PCMU, roomkit_sip.PT_PCMA, roomkit_sip.PT_G722), (0, 8, 9)
        )
