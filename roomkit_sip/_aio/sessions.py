# -*- test-case-name: tests.aio.test_backend_sessions -*-
"""
The application's callbacks and the live sessions, shared by the backend's
public methods and the engine's call handler.

L{Listeners} holds what the application registered (with roomkit's rules:
C{on_call} and the primary audio callback replace, the rest accumulate).
L{SessionTable} maps session ids to L{Entry}s: the roomkit-facing
C{VoiceSession} beside the engine's C{Call} and its L{Playback}.
L{SessionTable.finish} is the one place a session ends, whoever ended it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from roomkit_sip._aio.callbacks import CallbackList
from roomkit_sip._aio.playback import Playback
from roomkit_sip._aio.roomkit_types import VoiceSessionState

__all__ = ["Entry", "Listeners", "SessionTable"]

#: Engine metadata keys the session learns when the call ends (contract §2.1).
_LATE_KEYS = ("bye_reason", "disconnect_reason")


@dataclass
class Listeners:
    """
    Everything the application registered, before or after C{start()}.

    @ivar on_call: the single C{on_call} callback (a new one replaces it).
    @ivar audio: the primary audio callback (C{on_audio_received} replaces).
    """

    on_call: Callable[..., Any] | None = None
    audio: Callable[..., Any] | None = None
    audio_subscribers: CallbackList[Any] = field(default_factory=CallbackList)
    session_ready: CallbackList[Any] = field(default_factory=CallbackList)
    disconnected: CallbackList[Any] = field(default_factory=CallbackList)
    dtmf: CallbackList[Any] = field(default_factory=CallbackList)
    played: CallbackList[Any] = field(default_factory=CallbackList)
    barge_in: CallbackList[Any] = field(default_factory=CallbackList)


@dataclass(eq=False)
class Entry:
    """
    One live call.

    @ivar session: the C{VoiceSession} the application holds.
    @ivar call: the engine's C{Call}.
    @ivar local: the application hung up (or closed the backend): the end
        of this call is not reported to the disconnect callbacks.
    """

    session: Any
    call: Any
    playback: Playback
    local: bool = False
    ended: bool = False


class SessionTable:
    """The live sessions by id, in answer order."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        """
        @raise ValueError: if the id is live (the engine answers 486 for a
            reused X-Session-ID, so this means a broken engine).
        """
        sid = entry.session.id
        if sid in self._entries:
            raise ValueError(f"session {sid!r} is already live")
        self._entries[sid] = entry

    def get(self, session_id: str | None) -> Entry | None:
        return self._entries.get(session_id) if session_id is not None else None

    def of(self, session: Any) -> Entry | None:
        """The entry of a session object the application passed in."""
        entry = self._entries.get(getattr(session, "id", None))
        return entry if entry is not None and entry.session is session else None

    def find(self, call: Any) -> Entry | None:
        """The entry of an engine call, if it is still live."""
        entry = self._entries.get(call.session_id)
        return entry if entry is not None and entry.call is call else None

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def sessions(self, room_id: str | None = None) -> list[Any]:
        return [
            e.session
            for e in self._entries.values()
            if room_id is None or e.session.room_id == room_id
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def finish(self, entry: Entry) -> bool:
        """
        End C{entry}'s session once: forget it, stop its playback, copy the
        engine's closing metadata and mark the session C{ENDED}.

        @return: C{False} if it had already been finished.
        """
        if entry.ended:
            return False
        entry.ended = True
        if self._entries.get(entry.session.id) is entry:
            del self._entries[entry.session.id]
        entry.playback.close()
        late = getattr(entry.call, "metadata", None) or {}
        for key in _LATE_KEYS:
            if key in late:
                entry.session.metadata[key] = late[key]
        if entry.session.state is not VoiceSessionState.ENDED:
            entry.session.state = VoiceSessionState.ENDED
        return True
