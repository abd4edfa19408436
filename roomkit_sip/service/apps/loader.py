# -*- test-case-name: tests.service.test_apps_loader -*-
"""
C{--app module.path:factory}: an operator's own call handler, by name.

The factory is any callable importable as C{module.path:name} (a dotted name
after the colon reaches into a class, e.g. C{mysite.voice:Bot.create}).  It is
called once, with the parsed command-line options, and must return an
L{ICallHandler} provider::

    # mysite/handlers.py
    from roomkit_sip.engine import CallHandler

    class Greeter(CallHandler):
        ...

    def make_handler(options):   # options: roomkit_sip.tap.Options
        return Greeter(options["record-dir"])

Every failure becomes a C{ValueError} with a one-line message, which the
options turn into twistd's usage error.
"""

from __future__ import annotations

import importlib
from typing import Any

from zope.interface import Invalid
from zope.interface.verify import verifyObject

from roomkit_sip.interfaces import ICallHandler


def _one_line(text: str) -> str:
    return " ".join(text.split())


def find_factory(spec: str) -> Any:
    """
    Import the factory named by C{spec} (C{"module.path:attribute"}).

    @raise ValueError: malformed spec, module not importable, attribute
        missing, or not callable.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"expected module.path:factory, got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import {module_name}: {_one_line(str(e))}") from None
    except Exception as e:
        raise ValueError(
            f"importing {module_name} failed: {type(e).__name__}: {_one_line(str(e))}"
        ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{module_name} has no attribute {attribute}") from None
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    return target


def build_handler(spec: str, options: Any) -> Any:
    """
    Import C{spec}, call it with C{options} and check the result.

    @return: the handler, verified to provide L{ICallHandler}.
    @raise ValueError: as L{find_factory}, or the factory raised, or its
        result does not provide L{ICallHandler} (methods missing or with the
        wrong signature).
    """
    factory = find_factory(spec)
    try:
        handler = factory(options)
    except Exception as e:
        raise ValueError(
            f"{spec}(options) raised {type(e).__name__}: {_one_line(str(e))}"
        ) from None
    try:
        verifyObject(ICallHandler, handler)
    except Invalid as e:
        raise ValueError(
            f"{spec} returned {handler!r}, which does not provide ICallHandler: "
            f"{_one_line(str(e))}"
        ) from None
    return handler
