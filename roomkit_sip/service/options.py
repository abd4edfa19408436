# -*- test-case-name: tests.service.test_options -*-
"""
The command line of C{twistd roomkit-sip}.

Everything an operator can get wrong is checked in L{Options.postOptions},
before anything binds a port: a bad value becomes a C{usage.UsageError} whose
message starts with the option's name, which twistd prints as one line under
the usage text (no traceback).  The checks do the real work where that is the
only honest check (the prompt is decoded, the htdigest file parsed, the
record directory written to, a custom factory called), and keep what they
built on the instance for L{roomkit_sip.tap.makeService}.

Import-light: C{twistd roomkit-sip --help} imports this module, so codecs,
the engine configuration and the applications load only inside methods.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from typing import Any
from urllib.parse import urlsplit

from twisted.python import usage

from roomkit_sip.service.apps import BUILTIN_APPS

#: EngineConfig field -> the option that sets it, to name the option in errors.
_FIELD_OPTIONS = {
    "sip_host": "sip-interface",
    "sip_port": "sip-port",
    "transports": "transport",
    "advertised_ip": "advertised-ip",
    "rtp_ip": "rtp-ip",
    "rtp_port_start": "rtp-ports",
    "rtp_port_end": "rtp-ports",
    "rtp_port_start/rtp_port_end": "rtp-ports",
    "codecs": "codecs",
    "dtmf_payload_type": "dtmf-payload-type",
    "max_sessions": "max-sessions",
    "rtp_inactivity_timeout": "rtp-inactivity-timeout",
    "user_agent": "user-agent",
}

_APPS_HELP = "; ".join(f"{name}: {text}" for name, text in BUILTIN_APPS.items())


def _fail(option: str, message: str) -> usage.UsageError:
    return usage.UsageError(f"--{option}: {message}")


class Options(usage.Options):
    """
    Options of C{twistd roomkit-sip}.  After parsing, numeric options hold
    numbers, and these attributes hold what the checks built:

    @ivar codecs: the L{ICodec} providers, most preferred first.
    @ivar auth_provider: the htdigest user store, or C{None}.
    @ivar auth_algorithms: the digest algorithms to challenge with, most
        preferred first: those the file holds hashes of for C{--realm}.
    @ivar prompt: the decoded L{Prompt}, or C{None}.
    @ivar custom_handler: the handler built by C{--app module:factory}.
    @ivar http_address: C{(interface, port)} for the HTTP endpoints, or C{None}.
    """

    synopsis = "[options]"
    longdesc = (
        "Answers SIP calls and hands them to an application (--app). "
        "SIGTERM drains: new calls get 503, live calls may finish for --drain-timeout "
        "seconds, then are hung up; recordings are closed and queued webhooks sent "
        "before the process exits."
    )

    optParameters = [
        ["sip-interface", None, "0.0.0.0", "IP address to receive SIP on (:: for IPv6)."],
        ["sip-port", None, "5060", "SIP port, for every transport (0: any free port)."],
        ["transport", None, "udp", "SIP transports, comma-separated: udp, tcp."],
        [
            "rtp-ip",
            None,
            "0.0.0.0",
            "IP address to bind RTP to (0.0.0.0: SDP names the address routable to the caller).",
        ],
        [
            "advertised-ip",
            None,
            None,
            "Public address written in Via, Contact and SDP, when behind NAT.",
        ],
        [
            "rtp-ports",
            None,
            "10000-20000",
            "RTP port range START-END: each call takes an even port in [START, END) "
            "and the odd one after it for RTCP.",
        ],
        # The help of --codecs lists the installed codecs: see getUsage.
        ["codecs", None, "g722,pcmu,pcma", "Codecs to accept, most preferred first."],
        [
            "dtmf-payload-type",
            None,
            "101",
            "RTP payload type offered for telephone-event DTMF (96-127).",
        ],
        ["max-sessions", None, "0", "Most simultaneous calls; more get 503 (0: no limit)."],
        [
            "rtp-inactivity-timeout",
            None,
            "30",
            "Seconds without RTP (not on hold) before the call is hung up.",
        ],
        [
            "auth-file",
            None,
            None,
            "htdigest file (user:realm:MD5-HA1[:SHA-256-HA1]) of users allowed to call; "
            "re-read when it changes. Without it, calls are not authenticated.",
        ],
        ["realm", None, "roomkit-sip", "Digest realm to challenge for; must match the file."],
        ["user-agent", None, None, "User-Agent/Server header (default: roomkit-sip/VERSION)."],
        ["app", None, "echo", f"What to do with calls. {_APPS_HELP}; or module.path:factory."],
        ["record-dir", None, None, "Directory for recordings (--app record); created if absent."],
        ["prompt", None, None, "WAV file to play (--app prompt; optional for --app record)."],
        ["webhook", None, None, "URL to POST call events to as JSON (http or https)."],
        [
            "http-port",
            None,
            None,
            "[ADDRESS:]PORT for /healthz, /metrics and /calls "
            "(ADDRESS defaults to 127.0.0.1; use 0.0.0.0:PORT to expose it).",
        ],
        [
            "drain-timeout",
            None,
            "20",
            "Seconds live calls may continue after SIGTERM before they are hung up.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.codecs: list[Any] = []
        self.auth_provider: Any = None
        self.auth_algorithms: tuple[str, ...] = ()
        self.prompt: Any = None
        self.custom_handler: Any = None
        self.http_address: tuple[str, int] | None = None

    def getUsage(self, width: int | None = None) -> str:
        from roomkit_sip.codecs.registry import available_codecs

        names = ", ".join(sorted(available_codecs())) or "none installed"
        self.docs["codecs"] = f"Codecs to accept, most preferred first (installed: {names})."
        return super().getUsage(width)

    def postOptions(self) -> None:
        self._numbers()
        self._codecs()
        self.engine_config()
        self._auth()
        self._http()
        self._webhook()
        self._app()

    def engine_config(self, auth: Any = None) -> Any:
        """
        The engine configuration these options describe, validated.

        @param auth: the C{DigestAuthenticator} (built with a reactor, so by
            C{makeService}); C{None} while parsing.
        @raise usage.UsageError: naming the option behind a bad field.
        """
        from roomkit_sip.engine.config import EngineConfig

        extra = {} if self["user-agent"] is None else {"user_agent": self["user-agent"]}
        config = EngineConfig(
            sip_host=self["sip-interface"],
            sip_port=self["sip-port"],
            transports=self["transport"],
            advertised_ip=self["advertised-ip"],
            rtp_ip=self["rtp-ip"],
            rtp_port_start=self["rtp-ports"][0],
            rtp_port_end=self["rtp-ports"][1],
            codecs=tuple(self.codecs),
            dtmf_payload_type=self["dtmf-payload-type"],
            max_sessions=self["max-sessions"],
            rtp_inactivity_timeout=self["rtp-inactivity-timeout"],
            auth=auth,
            **extra,
        )
        try:
            return config.validate()
        except ValueError as e:
            field, _, why = str(e).partition(": ")
            raise _fail(_FIELD_OPTIONS.get(field, field), why or str(e)) from None

    # -- the checks, in the order postOptions runs them

    def _numbers(self) -> None:
        self["sip-port"] = self._int("sip-port", 0, 65535)
        self["dtmf-payload-type"] = self._int("dtmf-payload-type", 96, 127)
        self["max-sessions"] = self._int("max-sessions", 0, 10**6)
        self["rtp-inactivity-timeout"] = self._seconds("rtp-inactivity-timeout")
        self["drain-timeout"] = self._seconds("drain-timeout")
        self["rtp-ports"] = self._port_range("rtp-ports")
        transports = tuple(t.strip().lower() for t in self["transport"].split(",") if t.strip())
        if not transports or not set(transports) <= {"udp", "tcp"}:
            raise _fail("transport", f"expected udp, tcp or udp,tcp; got {self['transport']!r}")
        self["transport"] = tuple(dict.fromkeys(transports))

    def _int(self, option: str, low: int, high: int) -> int:
        value = self[option]
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not low <= number <= high:
            raise _fail(option, f"expected a whole number from {low} to {high}, got {value!r}")
        return number

    def _seconds(self, option: str) -> float:
        value = self[option]
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
        if not 0 <= number < float("inf"):
            raise _fail(option, f"expected seconds (0 or more), got {value!r}")
        return number

    def _port_range(self, option: str) -> tuple[int, int]:
        text = self[option]
        start, dash, end = str(text).partition("-")
        try:
            first, last = int(start), int(end)
        except ValueError:
            first = last = -1
        if not dash or not 1 <= first < last <= 65535:
            raise _fail(option, f"expected START-END with 1 <= START < END <= 65535, got {text!r}")
        if last - first < 2:
            raise _fail(option, f"{text} holds no even RTP port with its RTCP port")
        return first, last

    def _codecs(self) -> None:
        from roomkit_sip.codecs.registry import resolve_codecs

        try:
            self.codecs = resolve_codecs(self["codecs"])
        except ValueError as e:
            raise _fail("codecs", str(e)) from None

    def _auth(self) -> None:
        path = self["auth-file"]
        if path is None:
            return
        from roomkit_sip.auth.htdigest import HtdigestFileAuthProvider, parse_htdigest

        try:
            self.auth_provider = HtdigestFileAuthProvider(path)
            with open(path, encoding="utf-8") as f:
                table = parse_htdigest(f, path)
        except (OSError, ValueError) as e:
            raise _fail("auth-file", str(e)) from None
        realm = self["realm"]
        stored = {a for (r, _user), ha1s in table.items() if r == realm for a in ha1s}
        if not stored:
            found = ", ".join(repr(r) for r in sorted({r for r, _user in table})) or "none"
            raise _fail("realm", f"no user of realm {realm!r} in {path} (realms there: {found})")
        # Challenge only with what the file can verify: an Apache htdigest
        # file holds MD5 alone, and a SHA-256 challenge listed first would
        # lead clients that answer the first one (SIPp does) to fail.
        self.auth_algorithms = tuple(a for a in ("SHA-256", "MD5") if a in stored)

    def _http(self) -> None:
        text = self["http-port"]
        if text is None:
            return
        host, colon, port = text.rpartition(":")
        host = host.strip("[]") if colon else "127.0.0.1"
        try:
            ipaddress.ip_address(host)
            number = int(port)
        except ValueError:
            number = -1
        if not 1 <= number <= 65535:
            raise _fail("http-port", f"expected [ADDRESS:]PORT (PORT 1-65535), got {text!r}")
        self.http_address = (host, number)

    def _webhook(self) -> None:
        url = self["webhook"]
        if url is None:
            return
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as e:
            raise _fail("webhook", f"{url!r} is not a valid URL ({e})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _fail("webhook", f"expected an http:// or https:// URL, got {url!r}")
        if parts.scheme == "https":
            try:
                from twisted.internet import ssl

                ssl.optionsForClientTLS  # noqa: B018 - missing without pyOpenSSL
            except (ImportError, AttributeError):
                raise _fail(
                    "webhook", "https needs TLS support: pip install twisted[tls]"
                ) from None

    def _app(self) -> None:
        app = self["app"]
        if app not in BUILTIN_APPS and ":" not in app:
            known = ", ".join(BUILTIN_APPS)
            raise _fail("app", f"unknown application {app!r}: use {known} or module.path:factory")
        if app == "record":
            self._record_dir()
        if app == "prompt" and self["prompt"] is None:
            raise _fail("prompt", "--app prompt needs a WAV file to play")
        if self["prompt"] is not None:
            self._load_prompt()
        if app not in BUILTIN_APPS:
            from roomkit_sip.service.apps.loader import build_handler

            try:
                self.custom_handler = build_handler(app, self)
            except ValueError as e:
                raise _fail("app", str(e)) from None

    def _record_dir(self) -> None:
        directory = self["record-dir"]
        if directory is None:
            raise _fail("record-dir", "--app record needs a directory to write recordings to")
        try:
            os.makedirs(directory, exist_ok=True)
            # Write a file: access() does not see read-only mounts, quotas or ACLs.
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise _fail("record-dir", f"{directory} is not writable: {e.strerror or e}") from None

    def _load_prompt(self) -> None:
        from roomkit_sip.service.audio_files import load_prompt

        rates = sorted({codec.sample_rate for codec in self.codecs})
        try:
            self.prompt = load_prompt(self["prompt"], rates)
        except ValueError as e:
            raise _fail("prompt", str(e)) from None
