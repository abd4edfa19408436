"""Which of our addresses a peer sees: advertised, bound, or routable toward it."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.transport.addressing import LocalAddresses, is_unspecified, probe_route


class AddressingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.probed: list[str] = []
        self.routes = {"192.0.2.1": "10.0.0.5", "127.0.0.1": "127.0.0.1"}

    def probe(self, peer: str) -> str | None:
        self.probed.append(peer)
        return self.routes.get(peer)

    def test_unspecified(self) -> None:
        for host in ("0.0.0.0", "::", "", "*"):
            self.assertTrue(is_unspecified(host), host)
        for host in ("127.0.0.1", "10.0.0.1", "::1", "example.com"):
            self.assertFalse(is_unspecified(host), host)

    def test_advertised_wins(self) -> None:
        addresses = LocalAddresses("0.0.0.0", "203.0.113.7", probe=self.probe)
        self.assertEqual(addresses.for_peer("192.0.2.1"), "203.0.113.7")
        self.assertEqual(addresses.fixed, "203.0.113.7")
        self.assertEqual(self.probed, [])

    def test_bound_address(self) -> None:
        addresses = LocalAddresses("10.1.1.1", probe=self.probe)
        self.assertEqual(addresses.for_peer("192.0.2.1"), "10.1.1.1")
        self.assertEqual(self.probed, [])

    def test_wildcard_probes_once_per_peer(self) -> None:
        addresses = LocalAddresses("0.0.0.0", probe=self.probe)
        self.assertIsNone(addresses.fixed)
        self.assertEqual(addresses.for_peer("192.0.2.1"), "10.0.0.5")
        self.assertEqual(addresses.for_peer("192.0.2.1"), "10.0.0.5")
        self.assertEqual(addresses.for_peer("127.0.0.1"), "127.0.0.1")
        self.assertEqual(self.probed, ["192.0.2.1", "127.0.0.1"])

    def test_no_route_falls_back_uncached(self) -> None:
        addresses = LocalAddresses("0.0.0.0", probe=self.probe)
        self.assertEqual(addresses.for_peer("198.51.100.9"), "127.0.0.1")
        self.routes["198.51.100.9"] = "10.0.0.6"
        self.assertEqual(addresses.for_peer("198.51.100.9"), "10.0.0.6")
        self.assertEqual(addresses.for_peer(None), "127.0.0.1")
        self.assertEqual(LocalAddresses("::", probe=self.probe).for_peer(None), "::1")

    def test_cache_is_bounded(self) -> None:
        addresses = LocalAddresses("0.0.0.0", probe=lambda peer: "10.0.0.1", cache_size=2)
        for peer in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
            addresses.for_peer(peer)
        self.assertEqual(list(addresses._cache), ["192.0.2.2", "192.0.2.3"])

    def test_real_probe(self) -> None:
        """The kernel's routing decision, no packet sent (loopback only)."""
        self.assertEqual(probe_route("127.0.0.1"), "127.0.0.1")
        self.assertIsNone(probe_route("not-an-address"))
