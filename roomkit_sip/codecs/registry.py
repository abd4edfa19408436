# -*- test-case-name: tests.codecs.test_registry -*-
"""
Which codecs exist and which ones a call may use, in what order.

Codecs are L{ICodec} providers published as Twisted plugins: the built-ins
from C{twisted/plugins/roomkit_sip_codecs.py}, third-party ones from any
C{twisted/plugins/} folder on C{sys.path}.  A plugin is untrusted input here:
each provider is checked (L{verifyObject} plus sane attribute values) and a bad
one is logged and skipped, so one broken plugin cannot stop the engine.
"""

from collections.abc import Iterable, Mapping

from twisted.logger import Logger
from twisted.plugin import getPlugins
from zope.interface import Invalid
from zope.interface.verify import verifyObject

from roomkit_sip.interfaces import ICodec

_log = Logger()

#: Codec preference when the application names none: wideband first, then the
#: two G.711 laws (roomkit's C{[PT_G722, PT_PCMU, PT_PCMA]}).
DEFAULT_PREFERENCE = ("g722", "pcmu", "pcma")

#: Where the built-in providers live; they win a name clash with a plugin.
_BUILTIN_MODULE_PREFIX = "roomkit_sip.codecs."

#: One entry of a codec preference: a name, a payload type or a provider.
CodecSpec = str | int | ICodec


class UnknownCodecError(ValueError):
    """A preference list named a codec (or payload type) no provider offers."""

    def __init__(self, wanted: str, available: Iterable[str]) -> None:
        self.wanted = wanted
        self.available = sorted(available)
        known = ", ".join(self.available) or "none"
        super().__init__(f"unknown codec {wanted}; available: {known}")


def check_codec(provider: object) -> str | None:
    """
    Say what is wrong with a would-be codec, or C{None} if it is usable.

    Beyond the interface, the values must allow 20 ms style framing: whole
    samples and whole RTP clock ticks per frame.
    """
    try:
        verifyObject(ICodec, provider)
    except Invalid as e:
        return f"does not provide ICodec: {e}"
    name = provider.encoding_name
    if not isinstance(name, str) or not name or any(c in name for c in " \t/,"):
        return f"bad encoding_name {name!r}"
    pt = provider.payload_type
    if type(pt) is not int or not 0 <= pt <= 127:
        return f"bad payload_type {pt!r}"
    for attr in ("clock_rate", "sample_rate", "channels", "frame_ms"):
        value = getattr(provider, attr)
        if type(value) is not int or value <= 0:
            return f"bad {attr} {value!r}"
    for attr in ("clock_rate", "sample_rate"):
        if getattr(provider, attr) * provider.frame_ms % 1000:
            return f"{attr} {getattr(provider, attr)} gives no whole count per frame"
    return None


def _is_builtin(provider: object) -> bool:
    return type(provider).__module__.startswith(_BUILTIN_MODULE_PREFIX)


def _origin(provider: object) -> str:
    return f"{type(provider).__module__}.{type(provider).__qualname__}"


def available_codecs() -> dict[str, ICodec]:
    """
    Discover every usable codec plugin, keyed by lower-case encoding name.

    When two providers claim one name, a built-in wins (a stray plugin must not
    silently replace the codec of every call); between third parties the one
    whose class sorts first wins, so the choice does not depend on file order.
    Either way the clash is logged.
    """
    by_name: dict[str, list[ICodec]] = {}
    for provider in getPlugins(ICodec):
        problem = check_codec(provider)
        if problem is not None:
            _log.error(
                "ignoring codec plugin {plugin!r}: {problem}", plugin=provider, problem=problem
            )
            continue
        same = by_name.setdefault(provider.encoding_name.lower(), [])
        if not any(p is provider for p in same):
            same.append(provider)
    found = {}
    for name, providers in by_name.items():
        providers.sort(key=lambda p: (not _is_builtin(p), _origin(p)))
        if len(providers) > 1:
            _log.warn(
                "codec {name} is provided {count} times; using {chosen!r}, ignoring {others!r}",
                name=name,
                count=len(providers),
                chosen=providers[0],
                others=providers[1:],
            )
        found[name] = providers[0]
    return found


def _by_payload_type(pt: int, available: Mapping[str, ICodec]) -> ICodec:
    matches = [c for c in available.values() if c.payload_type == pt]
    if not matches:
        raise UnknownCodecError(f"with payload type {pt}", available)
    if len(matches) > 1:
        names = ", ".join(sorted(c.encoding_name for c in matches))
        raise ValueError(f"payload type {pt} is ambiguous ({names}): name the codec instead")
    return matches[0]


def _resolve_one(item: CodecSpec, available: Mapping[str, ICodec]) -> ICodec:
    if isinstance(item, bool):
        raise TypeError(f"codec must be a name, a payload type or an ICodec, not {item!r}")
    if isinstance(item, int):
        return _by_payload_type(item, available)
    if isinstance(item, str):
        token = item.strip()
        if token.isdigit():
            return _by_payload_type(int(token), available)
        try:
            return available[token.lower()]
        except KeyError:
            raise UnknownCodecError(repr(token), available) from None
    if ICodec.providedBy(item):
        problem = check_codec(item)
        if problem is not None:
            raise ValueError(f"codec {item!r} is unusable: {problem}")
        return item
    raise TypeError(f"codec must be a name, a payload type or an ICodec, not {item!r}")


def resolve_codecs(
    spec: str | Iterable[CodecSpec] | None = None,
    available: Mapping[str, ICodec] | None = None,
) -> list[ICodec]:
    """
    Turn a codec preference into ordered providers, most preferred first.

    @param spec: C{None} for L{DEFAULT_PREFERENCE}; a comma-separated string
        such as C{"g722,pcmu,pcma"} (names are case-insensitive, digits are
        payload types); or an iterable mixing names, payload-type ints (as
        roomkit's C{supported_codecs=[PT_G722, PT_PCMU, PT_PCMA]}) and
        L{ICodec} providers.  Repeats are dropped, keeping the first place.
    @param available: the codecs to choose from; discovered with
        L{available_codecs} when omitted.
    @raise UnknownCodecError: an entry matches no available codec.
    @raise ValueError: the preference is empty, or a payload type matches
        several codecs.
    """
    if spec is None:
        spec = DEFAULT_PREFERENCE
    if isinstance(spec, str):
        spec = [token for token in spec.split(",") if token.strip()]
    if available is None:
        available = available_codecs()
    chosen: list[ICodec] = []
    for item in spec:
        codec = _resolve_one(item, available)
        if not any(c is codec for c in chosen):
            chosen.append(codec)
    if not chosen:
        raise ValueError("the codec preference is empty")
    return chosen
