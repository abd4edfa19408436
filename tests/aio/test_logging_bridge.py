"""The asyncio backend's log events reach the standard library's logging."""

from __future__ import annotations

import logging

from twisted.logger import Logger, LogPublisher
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from roomkit_sip._aio import logging_bridge
from roomkit_sip._aio.logging_bridge import StdlibBridge


class BridgeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.publisher = LogPublisher()
        self.publisher.addObserver(StdlibBridge())

    def log(self, namespace: str) -> Logger:
        return Logger(namespace=namespace, observer=self.publisher)

    def test_levels_and_logger_names(self) -> None:
        """Each event becomes a record of the logger named like its namespace."""
        with self.assertLogs("roomkit_sip", level="DEBUG") as seen:
            log = self.log("roomkit_sip.engine.engine")
            log.debug("d {n}", n=1)
            log.info("i")
            log.warn("w")
            log.error("e")
            log.critical("c")
        self.assertEqual(
            [(r.name, r.levelname, r.getMessage()) for r in seen.records],
            [
                ("roomkit_sip.engine.engine", "DEBUG", "d 1"),
                ("roomkit_sip.engine.engine", "INFO", "i"),
                ("roomkit_sip.engine.engine", "WARNING", "w"),
                ("roomkit_sip.engine.engine", "ERROR", "e"),
                ("roomkit_sip.engine.engine", "CRITICAL", "c"),
            ],
        )

    def test_failures_carry_the_exception(self) -> None:
        with self.assertLogs("roomkit_sip._aio", level="ERROR") as seen:
            try:
                raise ZeroDivisionError("no calls")
            except ZeroDivisionError:
                self.log("roomkit_sip._aio.backend").failure("hang-up failed")
        [record] = seen.records
        self.assertEqual(record.getMessage(), "hang-up failed")
        self.assertIs(record.exc_info[0], ZeroDivisionError)

    def test_other_namespaces_stay_out(self) -> None:
        """Twisted's own events and an application's are not ours to forward."""
        with self.assertNoLogs(level="DEBUG"):
            self.log("twisted.internet.base").error("x")
            self.log("roomkit_sipx.other").error("x")
            self.log("myapp").error("x")

    def test_levels_the_application_disabled_are_not_forwarded(self) -> None:
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logger = logging.getLogger("roomkit_sip.quiet")
        logger.addHandler(handler)
        logger.setLevel(logging.ERROR)
        self.addCleanup(logger.removeHandler, handler)
        self.addCleanup(logger.setLevel, logging.NOTSET)
        self.log("roomkit_sip.quiet").info("not shown")
        self.log("roomkit_sip.quiet").error("shown")
        self.assertEqual([r.getMessage() for r in records], ["shown"])


class BackendTests(SynchronousTestCase):
    def test_ignored_keyword_warning_reaches_logging(self) -> None:
        """
        The warning about a keyword the engine cannot honour reaches an
        asyncio application's logging as soon as the backend is built.
        """
        with self.assertLogs("roomkit_sip._aio.options", level="WARNING") as seen:
            rk.SIPVoiceBackend(local_sip_addr=("127.0.0.1", 0), duplicate_tx=True)
        self.assertIn("SIPVoiceBackend(duplicate_tx=True)", seen.records[0].getMessage())

    def test_installed_once(self) -> None:
        self.assertIs(logging_bridge.install(), logging_bridge.install())
