"""The do-nothing call handler applications subclass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from roomkit_sip.interfaces import ICallHandler

if TYPE_CHECKING:
    from roomkit_sip.engine.events import DTMFEvent


@implementer(ICallHandler)
class CallHandler:
    """
    L{ICallHandler} with no-op methods: answer every call automatically, ignore
    its audio and key presses.  Override what you need.
    """

    def incoming_call(self, incoming: Any) -> Any:
        return None

    def call_answered(self, call: Any) -> None:
        pass

    def audio_received(self, call: Any, pcm: bytes) -> None:
        pass

    def dtmf_received(self, call: Any, event: DTMFEvent) -> None:
        pass

    def call_ended(self, call: Any) -> None:
        pass
