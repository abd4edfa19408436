"""Key presses in SIP INFO bodies."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine.info_dtmf import InfoDTMF, InfoDTMFError, parse_info_dtmf, relay_body

RELAY = "application/dtmf-relay"
PLAIN = "application/dtmf"


class ParseTests(SynchronousTestCase):
    def test_dtmf_relay(self) -> None:
        self.assertEqual(
            parse_info_dtmf(RELAY, b"Signal=5\r\nDuration=160\r\n"), InfoDTMF("5", 160.0)
        )
        self.assertEqual(
            parse_info_dtmf(RELAY, b"signal = *\nduration = 250\n"), InfoDTMF("*", 250.0)
        )
        self.assertEqual(parse_info_dtmf(RELAY, b"Signal=11"), InfoDTMF("#", 0.0))
        self.assertEqual(parse_info_dtmf(RELAY, b"Signal=d\r\n"), InfoDTMF("D", 0.0))
        self.assertEqual(parse_info_dtmf(RELAY, b"Signal=16\r\n"), InfoDTMF("!", 0.0))

    def test_plain_dtmf(self) -> None:
        self.assertEqual(parse_info_dtmf(PLAIN, b"5\r\n"), InfoDTMF("5", 0.0))
        self.assertEqual(parse_info_dtmf(PLAIN, b"10"), InfoDTMF("*", 0.0))
        self.assertEqual(parse_info_dtmf(PLAIN, b"#"), InfoDTMF("#", 0.0))

    def test_refusals(self) -> None:
        for kind, body in (
            (RELAY, b"Duration=160"),
            (RELAY, b"Signal=Z"),
            (RELAY, b"Signal=5\nDuration=long"),
            (RELAY, b"Signal=5\nDuration=-1"),
            (PLAIN, b"17"),
            (PLAIN, b""),
            (PLAIN, b"!"),
        ):
            with self.subTest(body=body):
                self.assertRaises(InfoDTMFError, parse_info_dtmf, kind, body)
        self.assertRaises(ValueError, parse_info_dtmf, "text/plain", b"5")

    def test_relay_body(self) -> None:
        self.assertEqual(relay_body("#", 120.7), b"Signal=#\r\nDuration=120\r\n")
        self.assertEqual(parse_info_dtmf(RELAY, relay_body("a", 80)), InfoDTMF("A", 80.0))
        for bad in ("", "55", "!", "x"):
            self.assertRaises(ValueError, relay_body, bad, 100)
