# -*- test-case-name: tests.aio.test_backend_options -*-
"""
roomkit's 28 constructor keywords, and what each becomes in the engine.

An application written for roomkit's backend may pass any of them
(contract §6.1), so all are accepted with roomkit's defaults.  Most map
one-to-one onto an L{EngineConfig} field; L{_FIELDS} says which.  A keyword
whose engine field does not exist (yet) is honoured only at its default:
any other value is logged as a warning naming it, never silently dropped.
The check looks the field up in L{EngineConfig.field_names}, so a knob the
engine gains later is passed through without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from twisted.logger import Logger

from roomkit_sip import PT_G722, PT_PCMA, PT_PCMU
from roomkit_sip.codecs.registry import resolve_codecs
from roomkit_sip.engine.config import EngineConfig

__all__ = ["PT_G722", "PT_PCMA", "PT_PCMU", "BackendOptions"]

_log = Logger()


@dataclass(frozen=True)
class BackendOptions:
    """
    The keywords of roomkit's C{SIPVoiceBackend}, with its defaults.

    C{send_silence_on_answer} is carried out by the adapter itself (on
    dialled calls), C{auth_users}/C{auth_realm} build the engine's
    authenticator at start; everything else is engine configuration.
    """

    local_sip_addr: tuple[str, int] = ("0.0.0.0", 5060)
    local_rtp_ip: str = "0.0.0.0"
    advertised_ip: str | None = None
    rtp_port_start: int = 10000
    rtp_port_end: int = 20000
    supported_codecs: Sequence[Any] | None = None
    dtmf_payload_type: int = 101
    user_agent: str | None = None
    server_name: str = "-"
    jitter_capacity: int = 32
    jitter_prefetch: int = 0
    skip_audio_gaps: bool = True
    plc: bool = True
    cn: bool = False
    cn_payload_type: int = 13
    playout: bool = False
    playout_max_delay_ms: int = 200
    duplicate_tx: bool = False
    symmetric_rtp: bool = False
    rtp_inactivity_timeout: float = 30.0
    rtp_establishment_timeout: float = 60.0
    max_sessions: int = 0
    auth_users: Mapping[str, Any] | None = None
    auth_realm: str = "roomkit"
    send_silence_on_answer: float = 0.0
    outbound_silence_fill: bool = False
    pacer_prebuffer_ms: float = 80
    pacer_jitter_headroom_ms: float = 60

    @classmethod
    def keywords(cls) -> tuple[str, ...]:
        """The keyword names, in roomkit's order."""
        return tuple(f.name for f in fields(cls))

    def engine_config(self, **extra: Any) -> EngineConfig:
        """
        Build and validate the engine's configuration, warning about every
        keyword the engine cannot honour.

        @param extra: further fields (the authenticator, made at start).
        @raise ValueError: naming the bad keyword or field.
        """
        known = set(EngineConfig.field_names())
        values: dict[str, Any] = {}
        for keyword, (field_name, convert) in _FIELDS.items():
            value = getattr(self, keyword)
            if field_name in known:
                converted = convert(value)
                if converted is not _KEEP_DEFAULT:
                    values[field_name] = converted
            elif value != _DEFAULTS[keyword]:
                _log.warn(
                    "SIPVoiceBackend({keyword}={value!r}) is not supported by the "
                    "roomkit-sip engine yet and is ignored; the default ({default!r}) applies",
                    keyword=keyword,
                    value=value,
                    default=_DEFAULTS[keyword],
                )
        host, port = self.local_sip_addr
        values.update(sip_host=host, sip_port=port)
        values.update(extra)
        config = EngineConfig(**values)
        try:
            return config.validate()
        except ValueError as e:
            raise ValueError(f"SIPVoiceBackend: {_keyword_of(str(e))}") from e


class _KeepDefault:
    def __repr__(self) -> str:
        return "<keep the engine's default>"


_KEEP_DEFAULT: Any = _KeepDefault()


def _same(value: Any) -> Any:
    return value


def _codecs(value: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(resolve_codecs([PT_G722, PT_PCMU, PT_PCMA] if value is None else value))


def _user_agent(value: str | None) -> Any:
    return _KEEP_DEFAULT if value is None else value


def _whole_ms(value: float) -> int:
    return round(value)


#: keyword -> (EngineConfig field, conversion).  Keywords absent here are
#: the adapter's own (local_sip_addr, auth_*, send_silence_on_answer).
_FIELDS: dict[str, tuple[str, Any]] = {
    "local_rtp_ip": ("rtp_ip", _same),
    "advertised_ip": ("advertised_ip", _same),
    "rtp_port_start": ("rtp_port_start", _same),
    "rtp_port_end": ("rtp_port_end", _same),
    "supported_codecs": ("codecs", _codecs),
    "dtmf_payload_type": ("dtmf_payload_type", _same),
    "user_agent": ("user_agent", _user_agent),
    "server_name": ("server_name", _same),
    "jitter_capacity": ("jitter_capacity", _same),
    "jitter_prefetch": ("jitter_prefetch", _same),
    "skip_audio_gaps": ("skip_audio_gaps", _same),
    "plc": ("plc", _same),
    "cn": ("comfort_noise", _same),
    "cn_payload_type": ("cn_payload_type", _same),
    "playout": ("playout", _same),
    "playout_max_delay_ms": ("playout_max_delay_ms", _same),
    "duplicate_tx": ("duplicate_tx", _same),
    "symmetric_rtp": ("symmetric_rtp", _same),
    "rtp_inactivity_timeout": ("rtp_inactivity_timeout", _same),
    "rtp_establishment_timeout": ("rtp_establishment_timeout", _same),
    "max_sessions": ("max_sessions", _same),
    "outbound_silence_fill": ("outbound_silence_fill", _same),
    "pacer_prebuffer_ms": ("pacer_prebuffer_ms", _whole_ms),
    "pacer_jitter_headroom_ms": ("pacer_jitter_headroom_ms", _same),
}

_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(BackendOptions)}

#: EngineConfig field -> the keyword an application wrote, for error messages.
_KEYWORD_OF_FIELD = {field_name: keyword for keyword, (field_name, _) in _FIELDS.items()}
_KEYWORD_OF_FIELD.update(sip_host="local_sip_addr", sip_port="local_sip_addr")


def _keyword_of(message: str) -> str:
    """Rewrite C{"rtp_ip: ..."} as C{"local_rtp_ip: ..."}: name what the app wrote."""
    head, sep, rest = message.partition(":")
    keyword = _KEYWORD_OF_FIELD.get(head.strip())
    if sep and keyword is not None and keyword != head.strip():
        return f"{keyword} ({head.strip()}){sep}{rest}"
    return message
