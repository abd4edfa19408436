"""
The sans-IO core stays sans-IO: data flows one way, bottom to top.

``roomkit_sip.sip``, ``roomkit_sip.rtp`` and ``roomkit_sip.codecs`` may use
Twisted's *interfaces* (``IReactorTime`` for timers) but never a reactor, a
socket or asyncio; they must also not import the layers above them.
"""

import ast
import pathlib

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "roomkit_sip"
CORE = ("sip", "rtp", "codecs")
#: Sans-IO modules that live beside the Twisted code of their package.
SANS_IO_FILES = ("auth/digest_server.py", "auth/digest_client.py")
FORBIDDEN_EXACT = {"socket", "asyncio", "select", "selectors", "threading", "time"}
FORBIDDEN_PREFIXES = (
    "twisted.internet.reactor",
    "twisted.internet.protocol",
    "twisted.internet.udp",
    "twisted.internet.tcp",
    "twisted.internet.task",
    "twisted.internet.asyncioreactor",
    "roomkit_sip.engine",
    "roomkit_sip.transport",
    "roomkit_sip.media",
    "roomkit_sip.asyncio",
    "roomkit_sip.tap",
    "roomkit_sip.service",
)


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


class LayeringTests(SynchronousTestCase):
    def test_core_imports_no_io(self) -> None:
        offenders = []
        for sub in CORE:
            for path in sorted((PACKAGE / sub).rglob("*.py")):
                offenders.extend(self._offending(path))
        for path in SANS_IO_FILES:
            offenders.extend(self._offending(PACKAGE / path))
        self.assertEqual(offenders, [])

    def _offending(self, path: pathlib.Path) -> list[str]:
        found = []
        for name in _imports(path):
            if name in FORBIDDEN_EXACT or name.startswith(FORBIDDEN_PREFIXES):
                found.append(f"{path.relative_to(PACKAGE)}: {name}")
        return found
