# -*- test-case-name: tests.engine.test_registry -*-
"""
The engine's bookkeeping of calls, in one place so that "is this session id
live?", "how many calls?" and "whose dialog is this?" have one answer each.

  - Claims: a session id is claimed from the moment an INVITE for it passes
    authentication until its call ends, so a second INVITE naming a live
    session id is answered 486 (roomkit's rule) and C{max_sessions} counts
    calls being set up as well as answered ones (503).
  - Answered calls by session id: C{get_session}/C{list_sessions}.
  - Dialog owners: the pending INVITE (early dialog) or the call that
    in-dialog requests and ACKs are for.
  - INVITE server transactions whose 2xx awaits its ACK, so that Timer L's
    timeout (RFC 6026 §7.1) reaches the right call.
"""

from __future__ import annotations

from typing import Any

from roomkit_sip.sip.dialog import DialogId

__all__ = ["CallRegistry"]


class CallRegistry:
    """Claims, answered calls, dialog owners and 2xx transactions."""

    def __init__(self) -> None:
        self._claims: dict[str, Any] = {}
        self._calls: dict[str, Any] = {}
        self._dialogs: dict[DialogId, Any] = {}
        self._acks: dict[Any, Any] = {}
        self._pending: dict[Any, Any] = {}

    # -- claims ---------------------------------------------------------------

    def claim(self, session_id: str, owner: Any) -> bool:
        """Claim C{session_id} for C{owner}; C{False} if someone else holds it."""
        holder = self._claims.get(session_id)
        if holder is not None and holder is not owner:
            return False
        self._claims[session_id] = owner
        return True

    def release(self, session_id: str, owner: Any) -> None:
        """Give up C{owner}'s claim (no effect on another owner's)."""
        if self._claims.get(session_id) is owner:
            del self._claims[session_id]

    def transfer(self, session_id: str, old: Any, new: Any) -> None:
        """The pending INVITE became a call: the claim moves with it."""
        if self._claims.get(session_id) is old:
            self._claims[session_id] = new

    def claimants(self) -> list[Any]:
        """Whoever holds a claim: INVITEs being set up and calls, answered or not."""
        return list(dict.fromkeys(self._claims.values()))

    @property
    def claimed(self) -> int:
        """Session ids claimed: calls being set up plus answered calls."""
        return len(self._claims)

    # -- answered calls ---------------------------------------------------------

    def add_call(self, call: Any) -> None:
        self._calls[call.session_id] = call

    def remove_call(self, call: Any) -> None:
        if self._calls.get(call.session_id) is call:
            del self._calls[call.session_id]

    def get(self, session_id: str) -> Any | None:
        return self._calls.get(session_id)

    def calls(self, room_id: str | None = None) -> list[Any]:
        """Answered calls, all or those of C{room_id}, in answer order."""
        return [c for c in self._calls.values() if room_id is None or c.room_id == room_id]

    # -- dialogs ------------------------------------------------------------------

    def bind_dialog(self, dialog_id: DialogId, owner: Any) -> None:
        self._dialogs[dialog_id] = owner

    def unbind_dialog(self, dialog_id: DialogId, owner: Any) -> None:
        if self._dialogs.get(dialog_id) is owner:
            del self._dialogs[dialog_id]

    def dialog_owner(self, dialog_id: DialogId) -> Any | None:
        return self._dialogs.get(dialog_id)

    # -- INVITEs not answered yet -----------------------------------------------------

    def add_pending(self, txn: Any, incoming: Any) -> None:
        self._pending[txn] = incoming

    def remove_pending(self, txn: Any) -> None:
        self._pending.pop(txn, None)

    def pending_for(self, txn: Any) -> Any | None:
        return self._pending.get(txn)

    def pending(self) -> list[Any]:
        return list(self._pending.values())

    # -- 2xx awaiting ACK -----------------------------------------------------------

    def expect_ack(self, txn: Any, owner: Any) -> None:
        self._acks[txn] = owner

    def forget_ack(self, txn: Any) -> None:
        self._acks.pop(txn, None)

    def ack_owner(self, txn: Any) -> Any | None:
        return self._acks.get(txn)

    @property
    def empty(self) -> bool:
        """Nothing is tracked: every call and INVITE has been cleaned up."""
        return not (self._claims or self._calls or self._dialogs or self._acks or self._pending)

    def counts(self) -> dict[str, int]:
        return {
            "claims": len(self._claims),
            "calls": len(self._calls),
            "dialogs": len(self._dialogs),
            "awaiting_ack": len(self._acks),
            "pending": len(self._pending),
        }
