"""
L{roomkit_sip._aio.bridge.reactor_for_loop} against what is installed
process-wide, each case in a fresh interpreter (see L{tests.aio._install_probe}).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

PROBE = pathlib.Path(__file__).with_name("_install_probe.py")
ROOT = PROBE.parents[2]
RESULT_PREFIX = "PROBE-RESULT "

#: A probe that has not exited by then is hung (e.g. on a non-daemon thread).
PROBE_TIMEOUT = 60.0


def probe(scenario: str) -> dict[str, Any]:
    """
    Run C{scenario} in a new interpreter and return what it printed.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(PROBE), scenario],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        env=env,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise AssertionError(f"probe {scenario} exited {done.returncode}:\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if len(lines) != 1:
        raise AssertionError(f"probe {scenario} printed no result:\n{done.stdout}{done.stderr}")
    result: dict[str, Any] = json.loads(lines[0][len(RESULT_PREFIX) :])
    return result


class InstallTests(SynchronousTestCase):
    def test_installs_when_none_installed(self) -> None:
        """
        Importing the bridge installs nothing; the first call installs an
        asyncio reactor on the running loop and makes it running without
        C{run()} (I/O thread, startup triggers, resolver threads); later
        calls reuse it; UDP works; the process still exits on its own.
        """
        result = probe("fresh")
        self.assertEqual(
            result,
            {
                "installed_at_import": False,
                "is_global": True,
                "class": "AsyncioSelectorReactor",
                "same_loop": True,
                "running": True,
                "call_when_running": ["running"],
                "io_thread": True,
                "reused": True,
                "udp": "HELLO",
                "resolved": result["resolved"],
                "dispose": {
                    "type": "ValueError",
                    "message": "the installed reactor is shared by the whole process; "
                    "not disposing it",
                },
            },
        )
        self.assertIn(result["resolved"], ("127.0.0.1", "::1"))

    def test_reuses_reactor_installed_on_the_loop(self) -> None:
        self.assertEqual(probe("user-installed"), {"same": True, "running": True})

    def test_other_reactor_installed(self) -> None:
        """
        With another reactor installed, the error names it and shows both
        fixes: installing the asyncio reactor first, or passing one in.
        """
        result = probe("default-installed")
        error = result["error"]
        self.assertEqual(error["type"], "ReactorMismatchError")
        message = error["message"]
        self.assertIn(f"already installed as {result['installed']} ", message)
        self.assertIn("asyncioreactor.install(asyncio.get_running_loop())", message)
        self.assertIn("before anything imports twisted.internet.reactor", message)
        self.assertIn("reactor=AsyncioSelectorReactor(asyncio.get_running_loop())", message)

    def test_asyncio_reactor_on_another_loop(self) -> None:
        """
        C{asyncioreactor.install()} without the running loop binds the
        reactor to a loop C{asyncio.run()} never runs: refused, explained.
        """
        error = probe("other-loop")["error"]
        self.assertEqual(error["type"], "ReactorMismatchError")
        self.assertIn("bound to another event loop", error["message"])
        self.assertIn("asyncioreactor.install() ran without the running loop", error["message"])
        self.assertIn("asyncioreactor.install(asyncio.get_running_loop())", error["message"])

    def test_second_loop(self) -> None:
        """
        After the first loop closed, the installed reactor is refused for the
        next one, and an explicit reactor for that loop works.
        """
        result = probe("second-loop")
        self.assertEqual(result["first_udp"], "HELLO")
        self.assertEqual(result["explicit_udp"], "HELLO")
        self.assertEqual(result["error"]["type"], "ReactorMismatchError")
        self.assertIn("closed", result["error"]["message"])
