"""
Names that moved to a new module when a big one was split keep working from
their old import path, as the very same objects, and the modules that import
each other to offer that load in either order.
"""

import importlib
import pathlib
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: (old module, new module, names that moved).
MOVED = [
    ("roomkit_sip.sip.sdp", "roomkit_sip.sip._sdp_parse", ("parse_sdp",)),
    (
        "roomkit_sip.rtp.pacing",
        "roomkit_sip.rtp.clock",
        ("MediaClock", "RtpSequencer", "Tickable"),
    ),
    ("roomkit_sip.rtp.rtcp", "roomkit_sip.rtp.rtcp_session", ("RTCPSession", "RemoteReport")),
    ("roomkit_sip.sip.transactions", "roomkit_sip.sip.tu", ("ITransactionUser",)),
]

#: Pairs of modules that import each other; each must load when imported first.
CYCLES = [
    ("roomkit_sip.sip.sdp", "roomkit_sip.sip._sdp_parse"),
    ("roomkit_sip.rtp.rtcp", "roomkit_sip.rtp.rtcp_session"),
]


class ReexportTests(SynchronousTestCase):
    def test_old_paths_are_the_new_objects(self) -> None:
        for old, new, names in MOVED:
            old_module, new_module = importlib.import_module(old), importlib.import_module(new)
            for name in names:
                self.assertIs(getattr(old_module, name), getattr(new_module, name), name)
                self.assertIn(name, old_module.__all__, f"{old} no longer exports {name}")
                self.assertIn(name, new_module.__all__, f"{new} does not export {name}")

    def test_either_module_of_a_cycle_imports_first(self) -> None:
        for pair in CYCLES:
            for first, second in (pair, pair[::-1]):
                code = f"import {first}, {second}"
                result = subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    cwd=ROOT,
                )
                self.assertEqual(result.returncode, 0, f"{code}:\n{result.stderr}")
