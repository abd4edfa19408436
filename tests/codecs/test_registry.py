"""Codec discovery through Twisted plugins and codec preference resolution."""

import itertools
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.plugin import IPlugin, getPlugins, pluginPackagePaths
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import roomkit_sip
import twisted.plugins
from roomkit_sip.codecs.g711 import PCMA, PCMU
from roomkit_sip.codecs.g722 import G722
from roomkit_sip.codecs.registry import (
    DEFAULT_PREFERENCE,
    UnknownCodecError,
    available_codecs,
    check_codec,
    resolve_codecs,
)
from roomkit_sip.interfaces import ICodec

try:
    from roomkit_sip.sip.offer_answer import LocalMedia, answer_offer, create_offer
    from roomkit_sip.sip.sdp import parse_sdp
except ImportError:  # the SDP layer is developed in parallel; see OfferAnswerTests
    answer_offer = None

_names = itertools.count()

#: A third-party codec plugin as someone would write it: L16 (RFC 3551 §4.5.11,
#: big-endian linear PCM) at 8 kHz on a dynamic payload type.
L16_PLUGIN = """
import sys
from array import array

from twisted.plugin import IPlugin
from zope.interface import implementer

from roomkit_sip.interfaces import ICodec, IDecoder, IEncoder


def _swap(data):
    samples = array("h", bytes(data[: len(data) - len(data) % 2]))
    if sys.byteorder == "little":
        samples.byteswap()
    return samples.tobytes()


@implementer(IEncoder, IDecoder)
class _Converter:
    def encode(self, pcm):
        return _swap(pcm)

    def decode(self, payload):
        return _swap(payload)


@implementer(ICodec, IPlugin)
class L16:
    encoding_name = "L16"
    payload_type = 96
    clock_rate = 8000
    sample_rate = 8000
    channels = 1
    frame_ms = 20
    fmtp = None

    def new_encoder(self):
        return _Converter()

    def new_decoder(self):
        return _Converter()


l16 = L16()
"""


def install_plugin(case: SynchronousTestCase, source: str) -> str:
    """
    Drop C{source} as a module into a temporary C{twisted/plugins} folder
    (no C{__init__.py}, as Twisted requires), put the folder's root on
    C{sys.path} and let C{twisted.plugins} see it the way it would had the
    process started with that path; undo all of it after the test.

    @return: the plugin module's name.
    """
    root = Path(tempfile.mkdtemp())
    case.addCleanup(shutil.rmtree, root, True)
    folder = root / "twisted" / "plugins"
    folder.mkdir(parents=True)
    name = f"roomkit_sip_test_codec_{next(_names)}"
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(root))
    case.addCleanup(sys.path.remove, str(root))
    # twisted.plugins computed its __path__ from sys.path when first imported.
    extra = [p for p in pluginPackagePaths("twisted.plugins") if p not in twisted.plugins.__path__]
    case.patch(twisted.plugins, "__path__", twisted.plugins.__path__ + extra)
    case.addCleanup(sys.modules.pop, f"twisted.plugins.{name}", None)
    return name


def fake_codec_source(name: str, payload_type: int, broken: bool = False) -> str:
    """A minimal plugin module; C{broken} leaves out C{new_decoder}."""
    decoder = "" if broken else "    def new_decoder(self):\n        return None\n"
    return (
        "from twisted.plugin import IPlugin\n"
        "from zope.interface import implementer\n"
        "from roomkit_sip.interfaces import ICodec\n\n"
        "@implementer(ICodec, IPlugin)\n"
        "class Fake:\n"
        f"    encoding_name = {name!r}\n"
        f"    payload_type = {payload_type}\n"
        "    clock_rate = sample_rate = 8000\n"
        "    channels = 1\n"
        "    frame_ms = 20\n"
        "    fmtp = None\n"
        "    def new_encoder(self):\n        return None\n"
        f"{decoder}\n"
        "provider = Fake()\n"
    )


class BuiltinDiscoveryTests(SynchronousTestCase):
    def test_builtins_are_plugins(self) -> None:
        """getPlugins(ICodec) finds the three built-ins, each a verified IPlugin."""
        found = [c for c in getPlugins(ICodec) if c in (PCMU, PCMA, G722)]
        self.assertEqual(sorted(c.encoding_name for c in found), ["G722", "PCMA", "PCMU"])
        for codec in found:
            verifyObject(ICodec, codec)
            verifyObject(IPlugin, codec)

    def test_available_codecs(self) -> None:
        """Discovery keys each provider by its lower-case encoding name."""
        found = available_codecs()
        self.assertIs(found["pcmu"], PCMU)
        self.assertIs(found["pcma"], PCMA)
        self.assertIs(found["g722"], G722)

    def test_plugin_module_is_light(self) -> None:
        """The plugin module only binds the instances, so plugin scans stay cheap."""
        import twisted.plugins.roomkit_sip_codecs as module

        self.assertEqual(
            {k: v for k, v in vars(module).items() if IPlugin.providedBy(v)},
            {"PCMU": PCMU, "PCMA": PCMA, "G722": G722},
        )


class ResolveTests(SynchronousTestCase):
    available = {"pcmu": PCMU, "pcma": PCMA, "g722": G722}

    def test_default_order(self) -> None:
        """No preference means G.722, then PCMU, then PCMA."""
        self.assertEqual(DEFAULT_PREFERENCE, ("g722", "pcmu", "pcma"))
        self.assertEqual(resolve_codecs(available=self.available), [G722, PCMU, PCMA])
        self.assertEqual(resolve_codecs(), [G722, PCMU, PCMA])

    def test_names_case_insensitive(self) -> None:
        """A comma list of names, any case, spaces and a trailing comma tolerated."""
        self.assertEqual(
            resolve_codecs(" PCMA, g722 ,Pcmu,", available=self.available), [PCMA, G722, PCMU]
        )

    def test_payload_types(self) -> None:
        """roomkit's supported_codecs=[PT_G722, PT_PCMU, PT_PCMA] and digit strings."""
        pts = [roomkit_sip.PT_G722, roomkit_sip.PT_PCMU, roomkit_sip.PT_PCMA]
        self.assertEqual(resolve_codecs(pts, available=self.available), [G722, PCMU, PCMA])
        self.assertEqual(resolve_codecs("8,0", available=self.available), [PCMA, PCMU])

    def test_mixed_and_repeated(self) -> None:
        """Names, payload types and providers mix; repeats keep their first place."""
        self.assertEqual(
            resolve_codecs([PCMU, "pcma", 0, 9, "PCMA"], available=self.available),
            [PCMU, PCMA, G722],
        )

    def test_unknown_name(self) -> None:
        """An unknown name is an error that names it and what is available."""
        error = self.assertRaises(
            UnknownCodecError, resolve_codecs, "g722,opus", available=self.available
        )
        self.assertEqual(str(error), "unknown codec 'opus'; available: g722, pcma, pcmu")
        self.assertIsInstance(error, ValueError)

    def test_unknown_payload_type(self) -> None:
        error = self.assertRaises(
            UnknownCodecError, resolve_codecs, [18], available=self.available
        )
        self.assertIn("payload type 18", str(error))

    def test_empty(self) -> None:
        """An empty preference is refused rather than giving a call no codec."""
        self.assertRaises(ValueError, resolve_codecs, "", available=self.available)
        self.assertRaises(ValueError, resolve_codecs, [], available=self.available)

    def test_wrong_types(self) -> None:
        """True is not payload type 1, and arbitrary objects are not codecs."""
        self.assertRaises(TypeError, resolve_codecs, [True], available=self.available)
        self.assertRaises(TypeError, resolve_codecs, [1.5], available=self.available)

    def test_unusable_provider_refused(self) -> None:
        """A provider passed directly is checked like a plugin."""

        class Bad:
            pass

        bad = G722.__class__()
        bad.payload_type = 300
        self.assertRaises(ValueError, resolve_codecs, [bad], available=self.available)
        self.assertRaises(TypeError, resolve_codecs, [Bad()], available=self.available)


class CheckCodecTests(SynchronousTestCase):
    def test_builtins_pass(self) -> None:
        for codec in (PCMU, PCMA, G722):
            self.assertIsNone(check_codec(codec))

    def test_problems_named(self) -> None:
        """Each kind of defect is reported with the attribute at fault."""
        cases = {
            "encoding_name": "PC MU",
            "payload_type": 128,
            "clock_rate": 0,
            "sample_rate": 11025,
            "frame_ms": 20.0,
        }
        for attribute, value in cases.items():
            codec = G722.__class__()
            setattr(codec, attribute, value)
            self.assertIn(attribute, check_codec(codec), attribute)
        self.assertIn("ICodec", check_codec(object()))


class ThirdPartyPluginTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def test_plugin_discovered_and_resolved(self) -> None:
        """
        A codec dropped into any twisted/plugins folder on sys.path is found,
        resolves by name in the caller's preference order, and works.
        """
        name = install_plugin(self, L16_PLUGIN)
        found = available_codecs()
        self.assertIn("l16", found)
        l16 = found["l16"]
        self.assertEqual(type(l16).__module__, f"twisted.plugins.{name}")
        verifyObject(ICodec, l16)
        self.assertEqual(resolve_codecs("pcma, l16, g722"), [PCMA, l16, G722])
        self.assertEqual(resolve_codecs([96, 0]), [l16, PCMU])
        payload = l16.new_encoder().encode(b"\x01\x02")
        self.assertEqual(payload, b"\x02\x01")
        self.assertEqual(l16.new_decoder().decode(payload), b"\x01\x02")

    def test_plugin_gone_after_cleanup(self) -> None:
        """The helper leaves no trace: a later scan does not see the plugin."""
        self.assertNotIn("l16", available_codecs())

    def test_bad_plugin_logged_and_skipped(self) -> None:
        """A provider that fails verifyObject is logged and left out; the rest still load."""
        install_plugin(self, fake_codec_source("BROKEN", 97, broken=True))
        install_plugin(self, fake_codec_source("GOOD", 98))
        found = available_codecs()
        self.assertNotIn("broken", found)
        self.assertIn("good", found)
        self.assertIn("g722", found)
        problems = [e for e in self.events if "ignoring codec plugin" in e["log_format"]]
        self.assertEqual(len(problems), 1)
        self.assertIn("new_decoder", problems[0]["problem"])

    def test_builtin_wins_name_clash(self) -> None:
        """A plugin claiming PCMU does not replace the built-in; the clash is logged."""
        install_plugin(self, fake_codec_source("PCMU", 0))
        self.assertIs(available_codecs()["pcmu"], PCMU)
        clashes = [e for e in self.events if "is provided" in e["log_format"]]
        self.assertEqual([e["name"] for e in clashes], ["pcmu"])

    def test_ambiguous_payload_type(self) -> None:
        """Two plugins on one dynamic payload type must be chosen by name."""
        install_plugin(self, fake_codec_source("ONE", 100))
        install_plugin(self, fake_codec_source("TWO", 100))
        error = self.assertRaises(ValueError, resolve_codecs, [100])
        self.assertIn("ONE, TWO", str(error))
        self.assertEqual([c.encoding_name for c in resolve_codecs("two,one")], ["TWO", "ONE"])


class OfferAnswerTests(SynchronousTestCase):
    """A plugin codec is negotiable like a built-in: SDP needs nothing else from it."""

    if answer_offer is None:
        skip = "roomkit_sip.sip.offer_answer is not available"

    local = None if answer_offer is None else LocalMedia("192.0.2.10", 10000)

    def test_answer_chooses_plugin_codec(self) -> None:
        """
        The peer offers PCMU and L16 (on its own dynamic number, 97); with
        L16 preferred locally, the answer picks the plugin and keeps the
        peer's payload type (RFC 3264 §6.1).
        """
        install_plugin(self, L16_PLUGIN)
        codecs = resolve_codecs("l16, pcmu")
        offer = parse_sdp(
            "v=0\r\no=peer 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n"
            "t=0 0\r\nm=audio 40000 RTP/AVP 0 97\r\na=rtpmap:97 L16/8000\r\n"
        )
        answer, negotiation = answer_offer(offer, codecs, self.local, sess_id=7, sess_version=7)
        self.assertIs(negotiation.codec, codecs[0])
        self.assertEqual(negotiation.payload_type, 97)
        self.assertIn("a=rtpmap:97 L16/8000", str(answer).splitlines())

    def test_offer_lists_plugin_codec_in_preference_order(self) -> None:
        """Our offer names the plugin at its preferred dynamic payload type, in order."""
        install_plugin(self, L16_PLUGIN)
        offer = create_offer(
            resolve_codecs("pcma, l16, g722"), self.local, sess_id=7, sess_version=7
        )
        lines = str(offer).splitlines()
        self.assertIn("m=audio 10000 RTP/AVP 8 96 9 101", lines)
        self.assertIn("a=rtpmap:96 L16/8000", lines)
