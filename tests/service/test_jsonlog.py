"""twistd --logger=roomkit_sip.service.jsonlog.stdout_observer: one JSON record per event."""

from __future__ import annotations

import io
import json
import sys

from twisted.internet.task import Clock
from twisted.logger import Logger, LogPublisher, eventsFromJSONLogFile
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine.handler import CallHandler
from roomkit_sip.service import jsonlog, observer
from roomkit_sip.service.observer import CallObserver
from tests.service._fakes import FakeCall


class StdoutObserverTests(SynchronousTestCase):
    def test_call_lines_as_json_records(self) -> None:
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        publisher = LogPublisher(jsonlog.stdout_observer())
        self.patch(CallObserver, "_log", Logger(namespace=observer.__name__, observer=publisher))
        watcher = CallObserver(CallHandler(), Clock())
        call = FakeCall("json@pbx", stats={"packets_in": 3})
        watcher.call_answered(call)
        call.end("remote_bye", {"cause": 16, "text": "Normal"})
        watcher.call_ended(call)
        out.seek(0)
        started, ended = list(eventsFromJSONLogFile(out))
        self.assertEqual(
            (started["call_id"], started["caller"]), ("json@pbx", "sip:alice@example.com")
        )
        self.assertEqual(ended["reason"], "remote_bye")
        self.assertEqual(ended["bye_reason"], {"cause": 16, "text": "Normal"})
        self.assertEqual(ended["stats"], {"packets_in": 3})
        records = [json.loads(r) for r in out.getvalue().split("\x1e") if r.strip()]
        self.assertEqual(len(records), 2)
        for record in records:
            ours = {k: v for k, v in record.items() if not k.startswith("log_")}
            self.assertNotIn("unpersistable", json.dumps(ours))
