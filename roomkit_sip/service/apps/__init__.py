# -*- test-case-name: tests.service.test_apps -*-
"""
What C{--app} can name: the built-in applications, or C{module.path:factory}.

Each built-in is an L{ICallHandler} in its own module, imported only when
chosen, so C{twistd roomkit-sip --help} loads none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime

#: Built-in application names and what they do, for C{--help}.
BUILTIN_APPS = {
    "echo": "the caller hears themselves (a trunk and codec check)",
    "record": "record each caller to --record-dir, optionally after --prompt",
    "prompt": "play --prompt, then hang up (or when the caller presses #)",
}


def build_app(options: Any, clock: IReactorTime) -> tuple[Any, list[Callable[[], None]]]:
    """
    The handler C{options} ask for, and what to call when the service stops.

    @param options: parsed L{roomkit_sip.service.options.Options} (a custom
        handler was already built and checked while parsing them).
    @param clock: time for recording flushes and key-press offsets.
    """
    name = options["app"]
    if name == "echo":
        from roomkit_sip.service.apps.echo import EchoApp

        return EchoApp(), []
    if name == "record":
        from roomkit_sip.service.apps.record import RecordApp

        app = RecordApp(clock, options["record-dir"], prompt=options.prompt)
        return app, [app.close]
    if name == "prompt":
        from roomkit_sip.service.apps.prompt import PromptApp

        return PromptApp(options.prompt), []
    return options.custom_handler, []
