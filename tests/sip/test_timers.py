"""
L{roomkit_sip.sip.timers}: RFC 3261 Table 4 values per transport, the T2
cap, and the named timer group every transaction uses.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip.timers import TimerGroup, Timers, TimerSettings, is_reliable


class TimerSettingsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """T1 500 ms, T2 4 s, T4 5 s (§17.1.1.1, §17.1.2.2)."""
        settings = TimerSettings()
        self.assertEqual((settings.t1, settings.t2, settings.t4), (0.5, 4.0, 5.0))

    def test_udp(self) -> None:
        """Unreliable transports: every timer of Table 4 and RFC 6026 L/M."""
        self.assertEqual(
            TimerSettings().resolve(reliable=False),
            Timers(
                a=0.5, b=32.0, d=32.0, e=0.5, f=32.0, g=0.5, h=32.0, i=5.0, j=32.0,
                k=5.0, l=32.0, m=32.0, t1=0.5, t2=4.0, trying=0.2,
            ),
        )  # fmt: skip

    def test_tcp(self) -> None:
        """
        Reliable transports: no A, E, G retransmissions; D, I, J, K are
        zero; B, F, H, L, M keep 64*T1.
        """
        self.assertEqual(
            TimerSettings().resolve(reliable=True),
            Timers(
                a=None, b=32.0, d=0.0, e=None, f=32.0, g=None, h=32.0, i=0.0, j=0.0,
                k=0.0, l=32.0, m=32.0, t1=0.5, t2=4.0, trying=0.2,
            ),
        )  # fmt: skip

    def test_scaled_t1(self) -> None:
        """Every 64*T1 timer follows T1; D stays at its 32 s floor."""
        timers = TimerSettings(t1=0.1, t2=1.0, t4=2.0).for_transport("udp")
        self.assertEqual((timers.b, timers.f, timers.h, timers.j), (6.4, 6.4, 6.4, 6.4))
        self.assertEqual((timers.l, timers.m, timers.i, timers.k), (6.4, 6.4, 2.0, 2.0))
        self.assertEqual(timers.d, 32.0)

    def test_for_transport(self) -> None:
        """Transport tokens in any case select the right column."""
        settings = TimerSettings()
        self.assertEqual(settings.for_transport("tcp"), settings.resolve(True))
        self.assertEqual(settings.for_transport("TLS"), settings.resolve(True))
        self.assertEqual(settings.for_transport("UDP"), settings.resolve(False))

    def test_backoff(self) -> None:
        """Doubling capped at T2: 0.5, 1, 2, 4, 4 (§17.1.2.2, §17.2.1)."""
        timers = TimerSettings().resolve(False)
        intervals = [0.5]
        for _ in range(4):
            intervals.append(timers.backoff(intervals[-1]))
        self.assertEqual(intervals, [0.5, 1.0, 2.0, 4.0, 4.0])

    def test_invalid(self) -> None:
        """T1 must be positive and at most T2; T4 positive."""
        for kwargs in ({"t1": 0}, {"t1": 5.0, "t2": 4.0}, {"t4": 0}, {"timer_d": -1}):
            self.assertRaises(ValueError, TimerSettings, **kwargs)

    def test_reliable(self) -> None:
        self.assertTrue(is_reliable("tcp"))
        self.assertTrue(is_reliable("TLS"))
        self.assertFalse(is_reliable("UDP"))


class TimerGroupTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.group = TimerGroup(self.clock)
        self.fired: list[tuple[str, float]] = []

    def _fire(self, name: str):  # type: ignore[no-untyped-def]
        return lambda: self.fired.append((name, self.clock.seconds()))

    def test_fires_once(self) -> None:
        self.group.start("A", 0.5, self._fire("A"))
        self.clock.advance(0.5)
        self.clock.advance(10)
        self.assertEqual(self.fired, [("A", 0.5)])
        self.assertNotIn("A", self.group)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_restart_replaces(self) -> None:
        """Starting a timer again replaces the pending one of that name."""
        self.group.start("A", 0.5, self._fire("A"))
        self.clock.advance(0.25)
        self.group.start("A", 1.0, self._fire("A"))
        self.clock.advance(0.25)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.75)
        self.assertEqual(self.fired, [("A", 1.25)])

    def test_cancel_and_cancel_all(self) -> None:
        self.group.start("A", 1, self._fire("A"))
        self.group.start("B", 2, self._fire("B"))
        self.group.start("C", 3, self._fire("C"))
        self.group.cancel("A")
        self.group.cancel("missing")
        self.assertEqual(len(self.group), 2)
        self.group.cancel_all()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(5)
        self.assertEqual(self.fired, [])
