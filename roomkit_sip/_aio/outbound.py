# -*- test-case-name: tests.aio.test_backend_outbound -*-
"""
Calls and registrations the backend starts: C{dial()} and C{register()}.

roomkit's C{dial} returns an C{ACTIVE} session after the callee answered,
having called C{on_call} and the session-ready callbacks like an inbound
call; it raises C{RuntimeError} for a refusal and C{TimeoutError} when
nobody answers (contract §6.2).  The engine does the SIP work and reports
refusals as C{CallFailed(status, reason)}; this module translates.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from roomkit_sip._aio.bridge import as_awaitable
from roomkit_sip._aio.calls import CallEvents
from roomkit_sip._aio.trace import TraceEmitter
from roomkit_sip.codecs.registry import resolve_codecs

__all__ = ["dial", "register"]

_log = Logger()

#: roomkit waits this long for a registrar's first answer.
REGISTER_TIMEOUT = 5.0


def credentials_of(auth: Any) -> tuple[str, str] | None:
    """
    Accept roomkit's and our ways of giving dial credentials.

    @param auth: C{None}; C{(username, password)}; or an object with
        C{username} and C{password} (aiosipua's C{SipDigestAuth}).
    @raise TypeError: for anything else.
    """
    if auth is None:
        return None
    if isinstance(auth, tuple) and len(auth) == 2:
        return (str(auth[0]), str(auth[1]))
    username = getattr(auth, "username", None)
    password = getattr(auth, "password", None)
    if isinstance(username, str) and isinstance(password, str):
        return (username, password)
    raise TypeError(f"dial(auth=...) needs (username, password) or .username/.password: {auth!r}")


def _engine_method(engine: Any, name: str, what: str) -> Any:
    """
    @raise NotImplementedError: (a C{RuntimeError}) when the engine in use
        has no such method yet, saying so rather than failing on an
        attribute.
    """
    method = getattr(engine, name, None)
    if not callable(method):
        raise NotImplementedError(
            f"this roomkit-sip engine cannot {what} yet (SIPEngine.{name} is missing)"
        )
    return method


def _refusal(failure_value: BaseException) -> tuple[int, str] | None:
    status = getattr(failure_value, "status", None)
    if type(status) is int:
        return status, str(getattr(failure_value, "reason", ""))
    return None


async def dial(
    engine: Any,
    events: CallEvents,
    traces: TraceEmitter,
    to_uri: str,
    from_uri: str,
    proxy_addr: tuple[str, int],
    *,
    room_id: str | None,
    channel_id: str,
    codec: Any,
    auth: Any,
    extra_headers: dict[str, str] | None,
    timeout: float,
    silence_s: float,
) -> Any:
    """
    Place a call and adopt it as a session (see L{SIPVoiceBackend.dial}).

    @param silence_s: seconds of silence to play once answered
        (C{send_silence_on_answer}: wakes trunks that wait for our RTP).
    """
    place = _engine_method(engine, "dial", "place calls")
    codecs = resolve_codecs([codec])
    traces.dialling(channel_id, room_id, from_uri, to_uri)
    d = place(
        to_uri,
        from_uri,
        tuple(proxy_addr),
        room_id=room_id,
        codecs=codecs,
        credentials=credentials_of(auth),
        extra_headers=dict(extra_headers or {}),
        timeout=timeout,
    )
    try:
        call = await as_awaitable(d)
    except (TimeoutError, defer.TimeoutError) as e:
        raise TimeoutError(f"{to_uri} did not answer within {timeout} s") from e
    except Exception as e:
        refusal = _refusal(e)
        if refusal is None:
            raise
        raise RuntimeError(f"{to_uri} refused the call: {refusal[0]} {refusal[1]}") from e
    if call.state == "ended":
        raise RuntimeError(f"the call to {to_uri} ended before it could be used")
    entry = events.adopt(call, channel_id, direction="outbound")
    traces.answered(entry.session, call.sample_rate, call.clock_rate, None, direction="inbound")
    if silence_s > 0:
        entry.playback.push(b"\x00\x00" * round(call.sample_rate * silence_s))
        entry.playback.end_of_response()
    events.announce(entry)
    return entry.session


async def register(
    engine: Any,
    clock: IReactorTime,
    registrar_addr: tuple[str, int],
    username: str,
    password: str,
    *,
    domain: str | None,
    expires: int,
) -> Any:
    """
    Register, and wait (at most L{REGISTER_TIMEOUT}, on the engine's clock)
    for the registrar's first answer.  The engine keeps the binding fresh
    afterwards and removes it when it stops.

    @return: the engine's C{Registration}.
    """
    register_with = _engine_method(engine, "register", "register with a registrar")
    registration = register_with(
        tuple(registrar_addr), username=username, password=password, domain=domain, expires=expires
    )
    if not isinstance(registration, defer.Deferred):
        return registration
    registration.addTimeout(REGISTER_TIMEOUT, clock)
    try:
        return await as_awaitable(registration)
    except defer.TimeoutError as e:
        raise TimeoutError(
            f"the registrar {registrar_addr} did not answer within {REGISTER_TIMEOUT} s"
        ) from e
    except Exception as e:
        refusal = _refusal(e)
        if refusal is None:
            raise
        raise RuntimeError(f"registration refused: {refusal[0]} {refusal[1]}") from e
