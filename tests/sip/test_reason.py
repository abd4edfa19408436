"""
L{roomkit_sip.sip.reason}: the RFC 3326 Reason header field, with the RFC's
own examples.
"""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import SIPParseError
from roomkit_sip.sip.fields import Params
from roomkit_sip.sip.reason import Reason, find_reason, parse_reason, parse_reasons, q850

from ._txn_support import request


class ParseTests(SynchronousTestCase):
    def test_rfc3326_examples(self) -> None:
        """RFC 3326 §2 and §3.1 examples, spaces around SEMI included."""
        self.assertEqual(
            parse_reason('SIP ;cause=200 ;text="Call completed elsewhere"'),
            Reason("SIP", 200, "Call completed elsewhere"),
        )
        self.assertEqual(
            parse_reason('Q.850 ;cause=16 ;text="Terminated"'), Reason("Q.850", 16, "Terminated")
        )
        self.assertEqual(
            parse_reason('SIP ;cause=600 ;text="Busy Everywhere"'),
            Reason("SIP", 600, "Busy Everywhere"),
        )
        self.assertEqual(
            parse_reason('SIP ;cause=580 ;text="Precondition Failure"'),
            Reason("SIP", 580, "Precondition Failure"),
        )

    def test_compact_and_extensions(self) -> None:
        reason = parse_reason('Q.850;cause=17;text="User \\"busy\\"";location=LN')
        self.assertEqual((reason.cause, reason.text), (17, 'User "busy"'))
        self.assertEqual(reason.params, Params([("location", "LN")]))
        self.assertEqual(parse_reason("Q.850"), Reason("Q.850"))
        self.assertEqual(parse_reason("preemption;cause=1"), Reason("preemption", 1))

    def test_malformed(self) -> None:
        for value in ("", ";cause=16", "Q.850;cause=abc", "Q.850;text=unquoted", "Q.850;cause"):
            self.assertRaises(SIPParseError, parse_reason, value)

    def test_several_values(self) -> None:
        """A header may list one reason per protocol (§2)."""
        bye = request(
            "BYE",
            to_tag="t",
            extra='Reason: SIP ;cause=580 ;text="Precondition Failure", Q.850 ;cause=16\r\n',
        )
        self.assertEqual(
            parse_reasons(bye),
            [Reason("SIP", 580, "Precondition Failure"), Reason("Q.850", 16)],
        )
        self.assertEqual(find_reason(bye), Reason("Q.850", 16))
        self.assertEqual(find_reason(bye, "sip").cause, 580)

    def test_find_skips_malformed(self) -> None:
        """A broken Reason never blocks a BYE: it is skipped."""
        bye = request(
            "BYE", to_tag="t", extra="Reason: Q.850;cause=x\r\nReason: Q.850;cause=31\r\n"
        )
        self.assertEqual(find_reason(bye), Reason("Q.850", 31))
        self.assertIsNone(find_reason(request("BYE", to_tag="t")))
        self.assertRaises(SIPParseError, parse_reasons, bye)


class FormatTests(SynchronousTestCase):
    def test_q850(self) -> None:
        """The form the engine sends on hangup."""
        self.assertEqual(str(q850(16)), 'Q.850;cause=16;text="Normal call clearing"')
        self.assertEqual(str(q850(17, "Busy")), 'Q.850;cause=17;text="Busy"')
        self.assertEqual(str(q850(999)), "Q.850;cause=999")

    def test_round_trip(self) -> None:
        for reason in (
            Reason("SIP", 200, "Call completed elsewhere"),
            Reason("Q.850", 16, 'quote " and \\ backslash'),
            Reason("Q.850", 41, None, Params([("x", "1")])),
        ):
            self.assertEqual(parse_reason(str(reason)), reason)

    def test_text_with_newline_refused(self) -> None:
        self.assertRaises(ValueError, str, Reason("Q.850", 16, "two\nlines"))
