"""--app module.path:factory: import, call, verify, or say why not in one line."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.service.apps.loader import build_handler, find_factory
from tests.service import _handlers


class LoaderTests(SynchronousTestCase):
    def test_factory_called_with_the_options(self) -> None:
        options = {"app": "x"}
        handler = build_handler("tests.service._handlers:make_greeter", options)
        self.assertIsInstance(handler, _handlers.Greeter)
        self.assertIs(handler.options, options)

    def test_dotted_attribute_and_classes(self) -> None:
        self.assertIs(
            find_factory("tests.service._handlers:Factories.create"),
            _handlers.Factories.create,
        )
        handler = build_handler("tests.service._handlers:Greeter", {})
        self.assertIsInstance(handler, _handlers.Greeter)

    def test_errors_are_one_line(self) -> None:
        cases = {
            "tests.service._handlers": "expected module.path:factory",
            "tests.service._handlers:": "expected module.path:factory",
            ":make": "expected module.path:factory",
            "tests.service._nowhere:make": "cannot import tests.service._nowhere",
            "tests.service._broken_app:make": (
                "importing tests.service._broken_app failed: RuntimeError: broken on purpose"
            ),
            "tests.service._handlers:missing": "has no attribute missing",
            "tests.service._handlers:Factories.nope": "has no attribute Factories.nope",
            "tests.service._handlers:NOT_CALLABLE": "is not callable",
            "tests.service._handlers:make_failing": (
                "make_failing(options) raised RuntimeError: database unreachable"
            ),
            "tests.service._handlers:make_half": "does not provide ICallHandler",
            "tests.service._handlers:make_wrong_signature": "does not provide ICallHandler",
        }
        for spec, words in cases.items():
            e = self.assertRaises(ValueError, build_handler, spec, {})
            self.assertIn(words, str(e), spec)
            self.assertNotIn("\n", str(e), spec)
