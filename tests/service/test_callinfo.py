"""How calls are described in logs, webhooks, sidecars and /calls."""

import json
import math

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.service.callinfo import (
    IDENTITY_KEYS,
    call_stats,
    codec_name,
    describe,
    hangup_reason,
    iso_time,
    json_value,
)
from tests.service._fakes import FakeCall


class JsonValueTests(SynchronousTestCase):
    def test_plain_values_unchanged(self) -> None:
        value = {"a": [1, 2.5, "x", None, True], "b": {"c": 0}}
        self.assertEqual(json_value(value), value)

    def test_non_finite_floats_become_null(self) -> None:
        """JSON has no NaN or infinity; json.dumps would write invalid JSON."""
        self.assertEqual(json_value([math.nan, math.inf, -math.inf, 1.5]), [None, None, None, 1.5])

    def test_other_objects_become_strings(self) -> None:
        result = json_value({1: ValueError("no"), "t": (1, 2)})
        self.assertEqual(result["1"], "no")
        self.assertEqual(result["t"], [1, 2])
        json.dumps(result, allow_nan=False)


class DescribeTests(SynchronousTestCase):
    def test_identity_of_a_call(self) -> None:
        call = FakeCall(
            "abc@host",
            session_id="sess-1",
            codec="G722",
            x_headers={"X-Room-ID": "room-9", "X-Tenant": "acme"},
        )
        info = describe(call)
        self.assertEqual(tuple(info), IDENTITY_KEYS)
        self.assertEqual(
            info,
            {
                "session_id": "sess-1",
                "call_id": "abc@host",
                "room_id": "room-9",
                "caller": "sip:alice@example.com",
                "callee": "sip:bot@example.net",
                "caller_display_name": "Alice",
                "x_headers": {"X-Room-ID": "room-9", "X-Tenant": "acme"},
                "codec": "G722",
                "sample_rate": 16000,
            },
        )
        json.dumps(info, allow_nan=False)

    def test_codec_name_falls_back_to_metadata(self) -> None:
        call = FakeCall()
        call.codec = None
        call.metadata["codec"] = "opus"
        self.assertEqual(codec_name(call), "opus")
        del call.metadata["codec"]
        self.assertEqual(codec_name(call), "")

    def test_iso_time_is_utc_with_milliseconds(self) -> None:
        self.assertEqual(iso_time(1_700_000_000.25), "2023-11-14T22:13:20.250+00:00")


class StatsAndReasonTests(SynchronousTestCase):
    def test_stats_copied_and_made_json_safe(self) -> None:
        call = FakeCall(stats={"packets_in": 10, "mos": math.nan})
        self.assertEqual(call_stats(call), {"packets_in": 10, "mos": None})

    def test_failing_stats_give_empty_dict_and_a_logged_failure(self) -> None:
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        call = FakeCall()
        call.set_stats(RuntimeError("boom"))
        self.assertEqual(call_stats(call), {})
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(events), 1)

    def test_hangup_reason(self) -> None:
        call = FakeCall()
        self.assertEqual(hangup_reason(call), ("unknown", None))
        call.end("remote_bye", {"cause": 16, "text": "Normal"})
        self.assertEqual(hangup_reason(call), ("remote_bye", {"cause": 16, "text": "Normal"}))
