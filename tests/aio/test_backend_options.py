"""
roomkit's constructor keywords (L{roomkit_sip._aio.options}): the same
names and defaults as roomkit's backend, what each becomes in the engine's
configuration, and the warning for each the engine cannot honour.
"""

from __future__ import annotations

import inspect
from typing import Any

from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

import roomkit_sip.asyncio as rk
from roomkit_sip._aio.options import _FIELDS as FIELDS
from roomkit_sip._aio.options import BackendOptions
from roomkit_sip.engine.config import EngineConfig
from tests.aio._roomkit import require_roomkit

#: roomkit 0.109's keywords and defaults (contract §6.1), in its order.
ROOMKIT_KEYWORDS: dict[str, Any] = {
    "local_sip_addr": ("0.0.0.0", 5060),
    "local_rtp_ip": "0.0.0.0",
    "advertised_ip": None,
    "rtp_port_start": 10000,
    "rtp_port_end": 20000,
    "supported_codecs": None,
    "dtmf_payload_type": 101,
    "user_agent": None,
    "server_name": "-",
    "jitter_capacity": 32,
    "jitter_prefetch": 0,
    "skip_audio_gaps": True,
    "plc": True,
    "cn": False,
    "cn_payload_type": 13,
    "playout": False,
    "playout_max_delay_ms": 200,
    "duplicate_tx": False,
    "symmetric_rtp": False,
    "rtp_inactivity_timeout": 30.0,
    "rtp_establishment_timeout": 60.0,
    "max_sessions": 0,
    "auth_users": None,
    "auth_realm": "roomkit",
    "send_silence_on_answer": 0.0,
    "outbound_silence_fill": False,
    "pacer_prebuffer_ms": 80,
    "pacer_jitter_headroom_ms": 60,
}

#: keyword -> (a non-default value, EngineConfig field, the value it gets).
PASSED_THROUGH: dict[str, tuple[Any, str, Any]] = {
    "local_rtp_ip": ("127.0.0.1", "rtp_ip", "127.0.0.1"),
    "advertised_ip": ("192.0.2.7", "advertised_ip", "192.0.2.7"),
    "rtp_port_start": (10100, "rtp_port_start", 10100),
    "rtp_port_end": (19000, "rtp_port_end", 19000),
    "dtmf_payload_type": (96, "dtmf_payload_type", 96),
    "user_agent": ("acme/1", "user_agent", "acme/1"),
    "server_name": ("acme", "server_name", "acme"),
    "jitter_capacity": (64, "jitter_capacity", 64),
    "jitter_prefetch": (3, "jitter_prefetch", 3),
    "skip_audio_gaps": (False, "skip_audio_gaps", False),
    "plc": (False, "plc", False),
    "cn": (True, "comfort_noise", True),
    "symmetric_rtp": (True, "symmetric_rtp", True),
    "rtp_inactivity_timeout": (5.0, "rtp_inactivity_timeout", 5.0),
    "rtp_establishment_timeout": (7.5, "rtp_establishment_timeout", 7.5),
    "max_sessions": (4, "max_sessions", 4),
    "outbound_silence_fill": (True, "outbound_silence_fill", True),
    "pacer_prebuffer_ms": (120.4, "pacer_prebuffer_ms", 120),
}

#: Keywords with no engine field at the time of writing, and a value to try.
NOT_IN_ENGINE = {
    "cn_payload_type": 19,
    "playout": True,
    "playout_max_delay_ms": 300,
    "duplicate_tx": True,
    "pacer_jitter_headroom_ms": 100,
}


def _warnings(events: list[dict[str, Any]]) -> list[str]:
    return [e["keyword"] for e in events if e.get("log_level") == LogLevel.warn and "keyword" in e]


class KeywordTests(SynchronousTestCase):
    """
    The constructor's signature.
    """

    def test_roomkit_keywords(self) -> None:
        """
        The constructor takes roomkit's 28 keywords, keyword-only, with
        roomkit's defaults, then C{reactor}.
        """
        params = inspect.signature(rk.SIPVoiceBackend.__init__).parameters
        ours = {n: p.default for n, p in params.items() if n != "self"}
        self.assertEqual(list(ours), [*ROOMKIT_KEYWORDS, "reactor"])
        self.assertEqual({n: ours[n] for n in ROOMKIT_KEYWORDS}, ROOMKIT_KEYWORDS)
        self.assertIsNone(ours["reactor"])
        kinds = {p.kind for n, p in params.items() if n != "self"}
        self.assertEqual(kinds, {inspect.Parameter.KEYWORD_ONLY})
        self.assertEqual(BackendOptions.keywords(), tuple(ROOMKIT_KEYWORDS))

    def test_same_as_installed_roomkit(self) -> None:
        """
        With roomkit installed, the names and defaults match its backend's
        constructor exactly.
        """
        require_roomkit(self)
        from roomkit.voice.backends.sip import SIPVoiceBackend as Theirs

        theirs = inspect.signature(Theirs.__init__).parameters
        ours = inspect.signature(rk.SIPVoiceBackend.__init__).parameters
        self.assertEqual(
            [(n, p.default) for n, p in theirs.items()],
            [(n, p.default) for n, p in ours.items() if n != "reactor"],
        )


class MappingTests(SynchronousTestCase):
    """
    What each keyword becomes in L{EngineConfig}.
    """

    def test_defaults(self) -> None:
        """
        roomkit's defaults give the engine's defaults, apart from the
        address and the codecs, which are G.722, PCMU, PCMA in that order.
        """
        with capturedLogs() as events:
            config = BackendOptions().engine_config()
        self.assertEqual(_warnings(events), [])
        self.assertEqual(config.with_changes(codecs=()), EngineConfig(codecs=()))
        self.assertEqual([c.encoding_name for c in config.codecs], ["G722", "PCMU", "PCMA"])

    def test_passed_through(self) -> None:
        """
        Each keyword the engine knows reaches its field.
        """
        for keyword, (value, field_name, expected) in PASSED_THROUGH.items():
            config = BackendOptions(**{keyword: value}).engine_config()
            self.assertEqual(getattr(config, field_name), expected, keyword)

    def test_sip_address(self) -> None:
        """
        C{local_sip_addr} is the engine's SIP host and port.
        """
        config = BackendOptions(local_sip_addr=("127.0.0.1", 5080)).engine_config()
        self.assertEqual((config.sip_host, config.sip_port), ("127.0.0.1", 5080))

    def test_codec_preference(self) -> None:
        """
        C{supported_codecs} takes roomkit's payload types (and our codec
        names), in preference order.
        """
        for spec, names in (
            ([rk.PT_PCMU], ["PCMU"]),
            ([rk.PT_PCMA, rk.PT_G722], ["PCMA", "G722"]),
            (["pcmu", rk.PT_G722], ["PCMU", "G722"]),
        ):
            config = BackendOptions(supported_codecs=spec).engine_config()
            self.assertEqual([c.encoding_name for c in config.codecs], names)

    def test_unsupported_warn(self) -> None:
        """
        A keyword the engine has no field for logs a warning naming it when
        given another value than roomkit's default, and is otherwise
        accepted; at its default it is silent.  Once the engine has the
        field, the value is passed through without a warning.
        """
        known = set(EngineConfig.field_names())
        for keyword, value in NOT_IN_ENGINE.items():
            field_name = FIELDS[keyword][0]
            with capturedLogs() as events:
                backend_config = BackendOptions(**{keyword: value}).engine_config()
            if field_name in known:
                self.assertEqual(_warnings(events), [], keyword)
                self.assertEqual(getattr(backend_config, field_name), value, keyword)
                continue
            self.assertEqual(_warnings(events), [keyword])
            [message] = [e for e in events if e.get("keyword") == keyword]
            self.assertEqual(message["value"], value)
            self.assertIn("{keyword}", message["log_format"])
            with capturedLogs() as events:
                BackendOptions(**{keyword: ROOMKIT_KEYWORDS[keyword]}).engine_config()
            self.assertEqual(_warnings(events), [], keyword)

    def test_warns_at_construction(self) -> None:
        """
        The backend reports unsupported keywords when it is built, before
        any call.
        """
        unsupported = [
            k for k in NOT_IN_ENGINE if FIELDS[k][0] not in set(EngineConfig.field_names())
        ]
        with capturedLogs() as events:
            rk.SIPVoiceBackend(**{k: NOT_IN_ENGINE[k] for k in unsupported})
        self.assertEqual(sorted(_warnings(events)), sorted(unsupported))

    def test_send_silence_on_answer_no_warning(self) -> None:
        """
        C{send_silence_on_answer} is the adapter's own job (on dialled
        calls), so it never warns.
        """
        with capturedLogs() as events:
            rk.SIPVoiceBackend(send_silence_on_answer=0.5)
        self.assertEqual(_warnings(events), [])

    def test_bad_value_names_keyword(self) -> None:
        """
        A value the engine refuses raises ValueError at construction, naming
        the keyword the application wrote.
        """
        for keywords, name in (
            ({"local_rtp_ip": "not-an-ip"}, "local_rtp_ip"),
            ({"local_sip_addr": ("nowhere", 5060)}, "local_sip_addr"),
            ({"rtp_port_start": 20000, "rtp_port_end": 20001}, "rtp_port_start"),
            ({"dtmf_payload_type": 13}, "dtmf_payload_type"),
        ):
            with self.assertRaises(ValueError) as caught:
                rk.SIPVoiceBackend(**keywords)
            self.assertIn(name, str(caught.exception))

    def test_bad_auth_users(self) -> None:
        """
        A malformed C{auth_users} entry fails the constructor, not a call.
        """
        self.assertRaises(TypeError, rk.SIPVoiceBackend, auth_users={"alice": 42})
