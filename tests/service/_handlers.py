"""Factories for C{--app module.path:factory} tests, good and bad."""

from __future__ import annotations

from typing import Any

from roomkit_sip.engine.handler import CallHandler


class Greeter(CallHandler):
    def __init__(self, options: Any) -> None:
        self.options = options


def make_greeter(options: Any) -> Greeter:
    return Greeter(options)


class Factories:
    @staticmethod
    def create(options: Any) -> Greeter:
        return Greeter(options)


class HalfHandler:
    """Has some of ICallHandler, not all of it, and no declaration."""

    def incoming_call(self, incoming: Any) -> None:
        return None


def make_half(options: Any) -> HalfHandler:
    return HalfHandler()


class WrongSignature(CallHandler):
    def audio_received(self) -> None:  # type: ignore[override]
        pass


def make_wrong_signature(options: Any) -> WrongSignature:
    return WrongSignature()


def make_failing(options: Any) -> None:
    raise RuntimeError("database\nunreachable")


NOT_CALLABLE = 42


class DigitMirror(CallHandler):
    """
    Sends every key the caller presses back to them (C{send_dtmf}), and
    keeps what happened, for the interop test of C{--app module:factory}.
    """

    def __init__(self, options: Any) -> None:
        self.options = options
        self.answered: list[Any] = []
        self.ended: list[Any] = []
        self.mirrored: list[tuple[str, bool]] = []

    def call_answered(self, call: Any) -> None:
        self.answered.append(call)

    def dtmf_received(self, call: Any, event: Any) -> None:
        digit = event.digit
        call.send_dtmf(digit).addCallback(lambda sent: self.mirrored.append((digit, sent)))

    def call_ended(self, call: Any) -> None:
        self.ended.append(call)


def make_digit_mirror(options: Any) -> DigitMirror:
    return DigitMirror(options)
