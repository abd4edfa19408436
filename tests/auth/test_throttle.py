"""L{roomkit_sip.auth.throttle}: the documented penalty numbers, with a Clock."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.auth.throttle import COOLDOWN, MAX_FAILURES, WINDOW, FailureThrottle


class FailureThrottleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.throttle = FailureThrottle(self.clock)

    def test_documented_defaults(self) -> None:
        self.assertEqual((WINDOW, MAX_FAILURES, COOLDOWN), (60.0, 10, 300.0))

    def test_exponential_delay_capped(self) -> None:
        delays = [self.throttle.failure("10.0.0.1") for _ in range(7)]
        self.assertEqual(delays, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0])

    def test_blocks_after_max_failures_for_cooldown(self) -> None:
        for i in range(MAX_FAILURES):
            self.assertFalse(self.throttle.blocked("10.0.0.1"), i)
            self.throttle.failure("10.0.0.1")
            self.clock.advance(1)
        self.assertTrue(self.throttle.blocked("10.0.0.1"))
        self.assertFalse(self.throttle.blocked("10.0.0.2"))
        self.clock.advance(COOLDOWN - 1.5)
        self.assertTrue(self.throttle.blocked("10.0.0.1"))
        self.clock.advance(1)
        self.assertFalse(self.throttle.blocked("10.0.0.1"))
        self.assertEqual(self.throttle.failure("10.0.0.1"), 0.5)  # a fresh start

    def test_window_expires(self) -> None:
        for _ in range(MAX_FAILURES - 1):
            self.throttle.failure("10.0.0.1")
        self.clock.advance(WINDOW + 1)
        self.assertEqual(self.throttle.failure("10.0.0.1"), 0.5)
        self.assertFalse(self.throttle.blocked("10.0.0.1"))

    def test_success_resets(self) -> None:
        for _ in range(MAX_FAILURES - 1):
            self.throttle.failure("10.0.0.1")
        self.throttle.success("10.0.0.1")
        self.assertEqual(self.throttle.failure("10.0.0.1"), 0.5)
        self.assertFalse(self.throttle.blocked("10.0.0.1"))

    def test_bounded_memory(self) -> None:
        throttle = FailureThrottle(self.clock, max_sources=3)
        for i in range(5):
            throttle.failure(f"10.0.0.{i}")
        self.assertEqual(len(throttle), 3)
        self.assertEqual(throttle.failure("10.0.0.0"), 0.5)  # forgotten: oldest went first
        self.assertEqual(throttle.failure("10.0.0.4"), 1.0)  # remembered

    def test_idle_records_are_dropped(self) -> None:
        self.throttle.failure("10.0.0.1")
        self.clock.advance(WINDOW + 1)
        self.assertFalse(self.throttle.blocked("10.0.0.1"))
        self.assertEqual(len(self.throttle), 0)

    def test_huge_limits_do_not_overflow(self) -> None:
        throttle = FailureThrottle(self.clock, max_failures=5000)
        for _ in range(2000):
            delay = throttle.failure("10.0.0.1")
        self.assertEqual(delay, 8.0)

    def test_bad_parameters(self) -> None:
        self.assertRaises(ValueError, FailureThrottle, self.clock, max_failures=0)
        self.assertRaises(ValueError, FailureThrottle, self.clock, max_sources=0)
