"""Media destinations and the media configuration."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine import EngineConfig
from roomkit_sip.media import MediaConfig, check_target


class CheckTargetTests(SynchronousTestCase):
    def test_verdicts(self) -> None:
        cases = {
            None: "unknown",
            ("127.0.0.1", 4000): "ok",
            ("203.0.113.9", 4000): "ok",
            ("2001:db8::1", 4000): "ok",
            ("0.0.0.0", 4000): "hold",
            ("0.0.0.0", 0): "hold",
            ("127.0.0.1", 0): "port-zero",
            ("127.0.0.1", 70000): "bad-port",
            ("::", 4000): "unspecified",
            ("224.0.0.1", 4000): "multicast",
            ("239.255.255.250", 4000): "multicast",
            ("ff02::1", 4000): "multicast",
            ("255.255.255.255", 4000): "broadcast",
            ("::ffff:255.255.255.255", 4000): "broadcast",
            ("240.0.0.1", 4000): "reserved",
            ("pbx.example.com", 4000): "not-ip",
            ("", 4000): "not-ip",
        }
        for addr, verdict in cases.items():
            self.assertEqual(check_target(addr), verdict, addr)


class MediaConfigTests(SynchronousTestCase):
    def test_defaults_follow_roomkit(self) -> None:
        c = MediaConfig()
        self.assertEqual(
            (
                c.jitter_capacity,
                c.jitter_prefetch,
                c.skip_audio_gaps,
                c.plc,
                c.symmetric_rtp,
                c.rtp_inactivity_timeout,
                c.rtp_establishment_timeout,
                c.outbound_silence_fill,
                c.comfort_noise,
                c.pacer_prebuffer_ms,
            ),
            (32, 0, True, True, False, 30.0, 60.0, False, False, 80),
        )

    def test_from_engine_config(self) -> None:
        engine = EngineConfig(jitter_capacity=16, symmetric_rtp=True, pacer_prebuffer_ms=40)
        c = MediaConfig.from_settings(engine)
        self.assertEqual(
            (c.jitter_capacity, c.symmetric_rtp, c.pacer_prebuffer_ms), (16, True, 40)
        )
        self.assertEqual(c.jitter_max_wait, 0.06)  # not an engine knob: default

    def test_rejects(self) -> None:
        for bad in (
            {"jitter_capacity": 0},
            {"jitter_prefetch": 40},
            {"jitter_max_wait": 0},
            {"rtp_inactivity_timeout": -1},
            {"pacer_prebuffer_ms": -5},
            {"outbound_silence_fill": True, "comfort_noise": True},
        ):
            self.assertRaises(ValueError, MediaConfig, **bad)
