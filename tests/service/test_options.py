"""The command line: defaults, every check, and one-line errors naming the option."""

from __future__ import annotations

import hashlib
import os
import wave
from pathlib import Path

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.engine.config import EngineConfig
from roomkit_sip.service.options import Options
from tests.codecs.test_registry import L16_PLUGIN, install_plugin
from tests.service import _handlers


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def ha1(user: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


class DefaultsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        options = parse()
        self.assertEqual(options["sip-interface"], "0.0.0.0")
        self.assertEqual(options["sip-port"], 5060)
        self.assertEqual(options["transport"], ("udp",))
        self.assertEqual(options["rtp-ports"], (10000, 20000))
        self.assertEqual([c.encoding_name for c in options.codecs], ["G722", "PCMU", "PCMA"])
        self.assertEqual(options["app"], "echo")
        self.assertEqual(options["drain-timeout"], 20.0)
        self.assertIsNone(options.http_address)
        self.assertIsNone(options.auth_provider)
        self.assertIsNone(options.prompt)

    def test_engine_config_carries_every_option(self) -> None:
        options = parse(
            "--sip-interface=127.0.0.1",
            "--sip-port=5080",
            "--transport=tcp, udp,tcp",
            "--rtp-ip=127.0.0.1",
            "--advertised-ip=203.0.113.5",
            "--rtp-ports=30000-30100",
            "--codecs=PCMA,0",
            "--dtmf-payload-type=96",
            "--max-sessions=12",
            "--rtp-inactivity-timeout=7.5",
            "--user-agent=acme-pbx/1",
        )
        config = options.engine_config()
        self.assertIsInstance(config, EngineConfig)
        self.assertEqual(
            (config.sip_host, config.sip_port, config.transports, config.rtp_ip),
            ("127.0.0.1", 5080, ("tcp", "udp"), "127.0.0.1"),
        )
        self.assertEqual(config.advertised_ip, "203.0.113.5")
        self.assertEqual((config.rtp_port_start, config.rtp_port_end), (30000, 30100))
        self.assertEqual([c.encoding_name for c in config.codecs], ["PCMA", "PCMU"])
        self.assertEqual(
            (config.dtmf_payload_type, config.max_sessions, config.rtp_inactivity_timeout),
            (96, 12, 7.5),
        )
        self.assertEqual(config.user_agent, "acme-pbx/1")
        self.assertIsNone(config.auth)
        auth = object()
        self.assertIs(options.engine_config(auth=auth).auth, auth)

    def test_user_agent_default_is_the_engine_default(self) -> None:
        self.assertEqual(parse().engine_config().user_agent, EngineConfig().user_agent)


class BadValueTests(SynchronousTestCase):
    """Every bad value fails in postOptions with one line naming the option."""

    def assertRefused(self, option: str, *argv: str, words: str = "") -> str:
        e = self.assertRaises(usage.UsageError, parse, *argv)
        message = str(e)
        self.assertTrue(message.startswith(f"--{option}: "), message)
        self.assertNotIn("\n", message)
        self.assertIn(words, message)
        return message

    def test_numbers_and_ranges(self) -> None:
        cases = [
            ("sip-port", "--sip-port=65536", "0 to 65535"),
            ("sip-port", "--sip-port=abc", "'abc'"),
            ("dtmf-payload-type", "--dtmf-payload-type=95", "96 to 127"),
            ("max-sessions", "--max-sessions=-1", ""),
            ("rtp-inactivity-timeout", "--rtp-inactivity-timeout=soon", ""),
            ("drain-timeout", "--drain-timeout=-5", "0 or more"),
            ("drain-timeout", "--drain-timeout=nan", ""),
            ("rtp-ports", "--rtp-ports=20000-10000", "START < END"),
            ("rtp-ports", "--rtp-ports=10000", ""),
            ("rtp-ports", "--rtp-ports=0-100", ""),
            ("rtp-ports", "--rtp-ports=10000-70000", ""),
            ("rtp-ports", "--rtp-ports=10001-10002", "no even RTP port"),
            ("transport", "--transport=sctp", "udp, tcp"),
            ("transport", "--transport=,", ""),
        ]
        for option, arg, words in cases:
            self.assertRefused(option, arg, words=words)

    def test_addresses(self) -> None:
        self.assertRefused("sip-interface", "--sip-interface=example.com", words="not an IP")
        self.assertRefused("rtp-ip", "--rtp-ip=1.2.3", words="not an IP")
        self.assertRefused(
            "advertised-ip", "--advertised-ip=0.0.0.0", words="cannot be advertised"
        )

    def test_unknown_codec_lists_the_installed_ones(self) -> None:
        self.assertRefused("codecs", "--codecs=g722,opus", words="available: g722, pcma, pcmu")
        self.assertRefused("codecs", "--codecs=,", words="empty")

    def test_http_port(self) -> None:
        for value in ("0", "abc", "1.2.3.4:70000", "example.com:80", ":"):
            self.assertRefused("http-port", f"--http-port={value}")
        self.assertEqual(parse("--http-port=9100").http_address, ("127.0.0.1", 9100))
        self.assertEqual(parse("--http-port=0.0.0.0:9100").http_address, ("0.0.0.0", 9100))
        self.assertEqual(parse("--http-port=[::1]:9100").http_address, ("::1", 9100))

    def test_webhook(self) -> None:
        for value in ("ftp://example.com/x", "http://", "example.com/hook", "http://h:99999/"):
            self.assertRefused("webhook", f"--webhook={value}")
        self.assertEqual(
            parse("--webhook=https://hooks.example.com/sip")["webhook"],
            "https://hooks.example.com/sip",
        )


class AuthTests(SynchronousTestCase):
    def write(self, text: str) -> str:
        path = self.mktemp()
        Path(path).write_text(text)
        return path

    def test_file_and_realm(self) -> None:
        path = self.write(f"alice:pbx:{ha1('alice', 'pbx', 's3cret')}\n")
        options = parse(f"--auth-file={path}", "--realm=pbx")
        self.assertEqual(
            options.auth_provider.lookup("pbx", "alice"), {"MD5": ha1("alice", "pbx", "s3cret")}
        )

    def test_challenge_with_what_the_file_can_verify(self) -> None:
        """
        An Apache file (MD5 only) is challenged with MD5 alone; a SHA-256
        column for any user of the realm puts SHA-256 first.
        """
        md5_only = self.write(
            f"alice:pbx:{ha1('alice', 'pbx', 'a')}\n"
            f"bob:other:{ha1('bob', 'other', 'b')}:{'0' * 64}\n"
        )
        self.assertEqual(parse(f"--auth-file={md5_only}", "--realm=pbx").auth_algorithms, ("MD5",))
        self.assertEqual(
            parse(f"--auth-file={md5_only}", "--realm=other").auth_algorithms, ("SHA-256", "MD5")
        )
        sha_only = self.write(f"carol:pbx::{'1' * 64}\n")
        self.assertEqual(
            parse(f"--auth-file={sha_only}", "--realm=pbx").auth_algorithms, ("SHA-256",)
        )
        self.assertEqual(parse().auth_algorithms, ())

    def test_unreadable_or_malformed_file(self) -> None:
        e = self.assertRaises(usage.UsageError, parse, "--auth-file=/nonexistent/users")
        self.assertTrue(str(e).startswith("--auth-file: "))
        path = self.write("alice:pbx\n")
        e = self.assertRaises(usage.UsageError, parse, f"--auth-file={path}", "--realm=pbx")
        self.assertIn(f"{path}:1", str(e))

    def test_realm_must_have_users(self) -> None:
        path = self.write(f"alice:pbx:{ha1('alice', 'pbx', 'x')}\n")
        e = self.assertRaises(usage.UsageError, parse, f"--auth-file={path}")
        self.assertEqual(
            str(e), f"--realm: no user of realm 'roomkit-sip' in {path} (realms there: 'pbx')"
        )


class AppTests(SynchronousTestCase):
    def wav(self, rate: int = 8000) -> str:
        path = self.mktemp() + ".wav"
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"\x00\x01" * rate)
        return path

    def test_unknown_app(self) -> None:
        e = self.assertRaises(usage.UsageError, parse, "--app=voicemail")
        self.assertEqual(
            str(e),
            "--app: unknown application 'voicemail': "
            "use echo, record, prompt or module.path:factory",
        )

    def test_record_needs_a_writable_directory(self) -> None:
        e = self.assertRaises(usage.UsageError, parse, "--app=record")
        self.assertTrue(str(e).startswith("--record-dir: "))
        blocker = self.mktemp()
        Path(blocker).write_text("not a directory")
        e = self.assertRaises(
            usage.UsageError, parse, "--app=record", f"--record-dir={blocker}/calls"
        )
        self.assertTrue(str(e).startswith(f"--record-dir: {blocker}/calls is not writable: "))

    def test_record_directory_created_and_left_clean(self) -> None:
        directory = os.path.join(self.mktemp(), "calls")
        parse("--app=record", f"--record-dir={directory}")
        self.assertEqual(os.listdir(directory), [])

    def test_prompt_needed_by_the_prompt_app(self) -> None:
        e = self.assertRaises(usage.UsageError, parse, "--app=prompt")
        self.assertEqual(str(e), "--prompt: --app prompt needs a WAV file to play")

    def test_prompt_decoded_for_the_codec_rates(self) -> None:
        options = parse("--app=prompt", f"--prompt={self.wav(22050)}")
        self.assertEqual(options.prompt.rates, (8000, 16000))
        options = parse(
            "--app=record",
            f"--record-dir={self.mktemp()}",
            f"--prompt={self.wav()}",
            "--codecs=pcmu",
        )
        self.assertEqual(options.prompt.rates, (8000,))

    def test_bad_prompt(self) -> None:
        text = self.mktemp()
        Path(text).write_text("RIFF? no.")
        for path in ("/nonexistent.wav", text):
            e = self.assertRaises(usage.UsageError, parse, "--app=prompt", f"--prompt={path}")
            self.assertTrue(str(e).startswith("--prompt: "), str(e))
            self.assertIn(path, str(e))

    def test_custom_factory_gets_the_parsed_options(self) -> None:
        options = parse("--app=tests.service._handlers:make_greeter", "--sip-port=5099")
        self.assertIsInstance(options.custom_handler, _handlers.Greeter)
        self.assertIs(options.custom_handler.options, options)
        self.assertEqual(options.custom_handler.options["sip-port"], 5099)

    def test_custom_factory_errors(self) -> None:
        for spec, words in (
            ("tests.service._nowhere:make", "cannot import"),
            ("tests.service._handlers:make_half", "does not provide ICallHandler"),
            ("tests.service._handlers:make_failing", "raised RuntimeError"),
        ):
            e = self.assertRaises(usage.UsageError, parse, f"--app={spec}")
            self.assertTrue(str(e).startswith("--app: "))
            self.assertIn(words, str(e))
            self.assertNotIn("\n", str(e))


class HelpTests(SynchronousTestCase):
    def test_every_option_documented(self) -> None:
        text = Options().getUsage(width=200)
        for name in (
            "sip-interface",
            "sip-port",
            "transport",
            "rtp-ip",
            "advertised-ip",
            "rtp-ports",
            "codecs",
            "dtmf-payload-type",
            "max-sessions",
            "rtp-inactivity-timeout",
            "auth-file",
            "realm",
            "user-agent",
            "app",
            "record-dir",
            "prompt",
            "webhook",
            "http-port",
            "drain-timeout",
        ):
            self.assertIn(f"--{name}=", text)
        self.assertIn("installed: g722, pcma, pcmu", text)
        self.assertIn("module.path:factory", text)

    def test_a_codec_plugin_appears_without_code_changes(self) -> None:
        install_plugin(self, L16_PLUGIN)
        self.assertIn("installed: g722, l16, pcma, pcmu", Options().getUsage(width=200))
        options = parse("--codecs=l16,pcmu")
        self.assertEqual([c.encoding_name for c in options.codecs], ["L16", "PCMU"])
