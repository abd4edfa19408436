"""EngineConfig: roomkit-compatible defaults, and one clear error per bad field."""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from roomkit_sip.engine import CallHandler, EngineConfig
from roomkit_sip.interfaces import ICallHandler


class EngineConfigTests(SynchronousTestCase):
    def test_defaults_match_roomkit(self) -> None:
        config = EngineConfig().validate()
        self.assertEqual([c.encoding_name for c in config.codecs], ["G722", "PCMU", "PCMA"])
        self.assertEqual((config.rtp_port_start, config.rtp_port_end), (10000, 20000))
        self.assertEqual(config.dtmf_payload_type, 101)
        self.assertEqual((config.jitter_capacity, config.jitter_prefetch), (32, 0))
        self.assertEqual(config.rtp_inactivity_timeout, 30.0)
        self.assertEqual(config.rtp_establishment_timeout, 60.0)
        self.assertEqual(config.pacer_prebuffer_ms, 80)
        self.assertEqual(config.server_name, "-")

    def test_bad_fields_are_named(self) -> None:
        cases = {
            "sip_host": {"sip_host": "not-an-ip"},
            "sip_port": {"sip_port": 70000},
            "transports": {"transports": ("sctp",)},
            "advertised_ip": {"advertised_ip": "0.0.0.0"},
            "rtp_port_start/rtp_port_end": {"rtp_port_start": 10000, "rtp_port_end": 10001},
            "codecs": {"codecs": ()},
            "dtmf_payload_type": {"dtmf_payload_type": 8},
            "jitter_prefetch": {"jitter_prefetch": 40},
            "t1/t2": {"t1": 5.0},
            "min_se": {"min_se": 30},
            "session_expires": {"session_expires": 100, "min_se": 120},
            "rtp_inactivity_timeout": {"rtp_inactivity_timeout": -1},
        }
        for name, changes in cases.items():
            with self.subTest(field=name):
                config = EngineConfig(**changes)
                error = self.assertRaises(ValueError, config.validate)
                self.assertTrue(str(error).startswith(name + ":"), str(error))

    def test_with_changes(self) -> None:
        config = EngineConfig().with_changes(sip_port=5080, t1=0.05).validate()
        self.assertEqual((config.sip_port, config.t1), (5080, 0.05))
        self.assertIn("rtp_inactivity_timeout", EngineConfig.field_names())


class CallHandlerTests(SynchronousTestCase):
    def test_base_handler_provides_interface(self) -> None:
        handler = CallHandler()
        self.assertTrue(verifyObject(ICallHandler, handler))
        self.assertIsNone(handler.incoming_call(object()))
