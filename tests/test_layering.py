"""
The sans-IO core stays sans-IO: data flows one way, bottom to top.

``roomkit_sip.sip``, ``roomkit_sip.rtp`` and ``roomkit_sip.codecs``, and the
digest server and client of ``roomkit_sip.auth``, may use Twisted's
*interfaces* (``IReactorTime`` for timers) but never a reactor, a socket or
asyncio; they must also not import the layers above them.  Relative imports
are resolved, and a fresh interpreter importing every sans-IO module must
load nothing else of the package, so an ``__init__`` cannot pull a layer in
behind the static check's back.
"""

import ast
import pathlib
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "roomkit_sip"
CORE = ("sip", "rtp", "codecs")
#: Sans-IO modules that live beside the Twisted code of their package, and
#: that package's __init__, which importing them runs.
SANS_IO_FILES = ("auth/__init__.py", "auth/digest_server.py", "auth/digest_client.py")
#: What the core may import from the rest of the package besides itself (and
#: the package's __init__, which holds constants only).
SHARED = ("roomkit_sip._version", "roomkit_sip.interfaces")
FORBIDDEN_EXACT = {"socket", "asyncio", "select", "selectors", "threading", "time"}
FORBIDDEN_PREFIXES = (
    "twisted.internet.reactor",
    "twisted.internet.protocol",
    "twisted.internet.udp",
    "twisted.internet.tcp",
    "twisted.internet.task",
    "twisted.internet.asyncioreactor",
)


def sans_io_files() -> list[pathlib.Path]:
    """Every module the rules apply to."""
    files = [path for sub in CORE for path in sorted((PACKAGE / sub).rglob("*.py"))]
    return files + [PACKAGE / path for path in SANS_IO_FILES]


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_sans_io(module: str) -> bool:
    """Whether C{module} (a roomkit_sip module or a name in one) belongs to the core."""
    trees = [f"roomkit_sip.{sub}" for sub in CORE] + list(SHARED)
    trees += [module_name(PACKAGE / path) for path in SANS_IO_FILES if "__init__" not in path]
    # A package's __init__ is sans-IO, not the package's other modules.
    inits = [module_name(PACKAGE / path) for path in SANS_IO_FILES if "__init__" in path]
    return module in inits or any(module == t or module.startswith(t + ".") for t in trees)


def imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """
    The modules C{source} imports, absolute, relative ones resolved against
    C{module}; for C{from m import n}, both C{m} and C{m.n} (n may be a
    submodule).
    """
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def offences(source: str, module: str, is_package: bool = False) -> list[str]:
    found = []
    for name in sorted(imports(source, module, is_package)):
        if name in FORBIDDEN_EXACT or name.startswith(FORBIDDEN_PREFIXES):
            found.append(f"{module}: {name}")
        elif name.startswith("roomkit_sip.") and not is_sans_io(name):
            # "from roomkit_sip import PT_PCMU" also yields roomkit_sip.PT_PCMU:
            # only names under a module or package of roomkit_sip count.
            first = name.split(".")[1]
            if (PACKAGE / first).is_dir() or (PACKAGE / f"{first}.py").is_file():
                found.append(f"{module}: {name}")
    return found


class LayeringTests(SynchronousTestCase):
    def test_core_imports_no_io(self) -> None:
        found = []
        for path in sans_io_files():
            found += offences(path.read_text(), module_name(path), path.name == "__init__.py")
        self.assertEqual(found, [])

    def test_every_sans_io_module_is_checked(self) -> None:
        """Each core package has modules, and each listed file exists."""
        files = sans_io_files()
        for sub in CORE:
            self.assertTrue(any(path.parent == PACKAGE / sub for path in files), sub)
        for path in SANS_IO_FILES:
            self.assertTrue((PACKAGE / path).is_file(), path)

    def test_the_checker_catches(self) -> None:
        """Each way to break the rule is reported, and allowed imports are not."""
        bad = {
            "from twisted.internet import reactor": "twisted.internet.reactor",
            "import socket": "socket",
            "from ..engine import call": "roomkit_sip.engine",
            "from .. import transport": "roomkit_sip.transport",
            "from roomkit_sip import asyncio": "roomkit_sip.asyncio",
            "import roomkit_sip.service.tap": "roomkit_sip.service.tap",
            "from roomkit_sip.auth.providers import MemoryProvider": "roomkit_sip.auth.providers",
            "from roomkit_sip._aio import bridge": "roomkit_sip._aio",
            "from roomkit_sip.testing import MemoryUDPReactor": "roomkit_sip.testing",
        }
        for source, name in bad.items():
            self.assertIn(f"roomkit_sip.sip.x: {name}", offences(source, "roomkit_sip.sip.x"))
        good = [
            "from twisted.internet.interfaces import IReactorTime",
            "from twisted.internet.defer import Deferred",
            "from . import errors",
            "from .headers import Headers",
            "from ..rtp.packet import build_rtp",
            "from roomkit_sip import PT_PCMU",
            "from roomkit_sip.interfaces import ICodec",
            "from roomkit_sip.auth.digest_server import DigestServer",
            "from roomkit_sip.sip import sdp",
        ]
        for source in good:
            self.assertEqual(offences(source, "roomkit_sip.sip.x"), [], source)
        self.assertEqual(offences("from . import dtmf", "roomkit_sip.rtp", is_package=True), [])
        self.assertEqual(
            offences("from .. import engine", "roomkit_sip.rtp", is_package=True),
            ["roomkit_sip.rtp: roomkit_sip.engine"],
        )

    def test_importing_the_core_loads_no_other_layer(self) -> None:
        """
        A fresh interpreter importing every sans-IO module has loaded no
        other module of the package, and no reactor.
        """
        modules = [module_name(path) for path in sans_io_files()]
        code = (
            "import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print('\\n'.join(sorted(sys.modules)))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=PACKAGE.parent,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        loaded = result.stdout.split()
        outside = [
            name for name in loaded if name.startswith("roomkit_sip.") and not is_sans_io(name)
        ]
        self.assertEqual(outside, [])
        self.assertNotIn("twisted.internet.reactor", loaded)
