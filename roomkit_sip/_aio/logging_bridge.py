# -*- test-case-name: tests.aio.test_logging_bridge -*-
"""
The package's log events, as an asyncio application expects them: records
of the standard library's C{logging}.

The engine logs through C{twisted.logger}, whose events reach nobody until
someone calls C{globalLogBeginner.beginLoggingTo}, which a twistd service
does and an asyncio application never does.  Without this bridge a roomkit
application would not see a single warning of ours (an ignored constructor
keyword, a failed hang-up).  Each event whose namespace is in this package
becomes a record of the stdlib logger of the same name
(C{roomkit_sip._aio.options}, C{roomkit_sip.engine.engine}...), so the
usual C{logging.getLogger("roomkit_sip").setLevel(...)} applies.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from zope.interface import implementer

#: Namespaces forwarded: this package's, and nothing of Twisted's or the app's.
PREFIX = "roomkit_sip"

_LEVELS = {
    LogLevel.debug: logging.DEBUG,
    LogLevel.info: logging.INFO,
    LogLevel.warn: logging.WARNING,
    LogLevel.error: logging.ERROR,
    LogLevel.critical: logging.CRITICAL,
}


@implementer(ILogObserver)
class StdlibBridge:
    """Forward this package's C{twisted.logger} events to stdlib C{logging}."""

    def __call__(self, event: LogEvent) -> None:
        namespace = event.get("log_namespace") or ""
        if namespace != PREFIX and not namespace.startswith(PREFIX + "."):
            return
        logger = logging.getLogger(namespace)
        level = _LEVELS.get(event.get("log_level"), logging.INFO)
        if not logger.isEnabledFor(level):
            return
        failure = event.get("log_failure")
        exc_info: Any = None
        if failure is not None:
            exc_info = (failure.type, failure.value, failure.getTracebackObject())
        text = formatEvent(event)
        logger.log(level, "%s", text, exc_info=exc_info)


_lock = threading.Lock()
_installed: StdlibBridge | None = None


def install(publisher: Any = globalLogPublisher) -> StdlibBridge:
    """
    Add the bridge to C{publisher} once per process (later calls return
    the same observer); it stays for the life of the process, like a
    logging handler.
    """
    global _installed
    with _lock:
        if _installed is None:
            _installed = StdlibBridge()
            publisher.addObserver(_installed)
        return _installed
