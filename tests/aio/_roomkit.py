"""
Whether the roomkit side of the asyncio backend can be tested here.

roomkit needs Python 3.12+; without it those tests skip, so that the
3.11 run covers the package's own types.  CI's roomkit environment sets
C{ROOMKIT_SIP_REQUIRE_ROOMKIT=1}: there a missing roomkit is a failure,
not a quiet skip.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk

__all__ = ["require_roomkit"]

REASON = (
    "roomkit is not installed: it needs Python 3.12+ and the 'roomkit' extra "
    "(pip install 'roomkit-sip[roomkit]')"
)


def require_roomkit(test: SynchronousTestCase) -> None:
    """
    Skip C{test} when roomkit is missing, or fail it when the environment
    requires roomkit.
    """
    if rk.HAVE_ROOMKIT:
        return
    if os.environ.get("ROOMKIT_SIP_REQUIRE_ROOMKIT"):
        test.fail(f"ROOMKIT_SIP_REQUIRE_ROOMKIT is set, but {REASON}")
    raise test.skipTest(REASON)
