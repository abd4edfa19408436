"""
Property tests for the SIP message layer.

Two families: robustness (arbitrary and, far more searching, mutated valid
datagrams never make the parser, the accessors or the framer raise anything
but L{SIPParseError}) and round trips (generated structurally valid messages
serialise and parse back to equal messages with equal typed values).
"""

import ipaddress
import pathlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip import (
    Address,
    CSeq,
    Headers,
    Request,
    Response,
    SIPFramingError,
    SIPParseError,
    SipURI,
    StreamFramer,
    TelURI,
    Via,
    parse_message,
    parse_uri,
)
from roomkit_sip.sip.fields import parse_via, quote_string
from roomkit_sip.sip.headers import CANONICAL

CORPUS = sorted(
    (pathlib.Path(__file__).resolve().parent.parent / "data" / "rfc4475").glob("*.dat")
)
SEEDS = [path.read_bytes() for path in CORPUS]

# --- building blocks ---------------------------------------------------------

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
WORD_CHARS = TOKEN_CHARS + '()<>:\\"/[]?{}'
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
#: Text a header field value, display name or reason phrase may hold:
#: anything but CR, LF and unpaired surrogates.
free_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=20
)
uri_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
top_labels = st.from_regex(r"[a-zA-Z]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", fullmatch=True)
hostnames = st.builds(
    lambda parts, top: ".".join([*parts, top]), st.lists(labels, max_size=3), top_labels
)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: a.compressed)
hosts = st.one_of(hostnames, ipv4, ipv6)
ports = st.none() | st.integers(0, 65535)


@st.composite
def sip_uris(draw: st.DrawFn, headers: bool = True) -> SipURI:
    user = draw(st.none() | uri_text)
    password = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
    return SipURI(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=None if user is None else draw(st.none() | password),
        host=draw(hosts),
        port=draw(ports),
        params=draw(st.lists(st.tuples(uri_text, st.none() | uri_text), max_size=3)),
        headers=draw(st.lists(st.tuples(uri_text, uri_text | st.just("")), max_size=2))
        if headers
        else (),
    )


tel_uris = st.builds(
    lambda digits, ext: TelURI("+" + digits, {"ext": ext} if ext else {}),
    st.from_regex(r"[0-9][0-9.()-]{0,10}", fullmatch=True),
    st.none() | st.from_regex(r"[0-9]{1,4}", fullmatch=True),
)

gen_values = st.one_of(st.none(), tokens, free_text.map(quote_string))
header_params = st.lists(st.tuples(tokens, gen_values), max_size=3)


@st.composite
def addresses(draw: st.DrawFn) -> Address:
    uri = draw(st.one_of(sip_uris(), tel_uris))
    return Address(draw(st.none() | free_text), uri, draw(header_params))


@st.composite
def vias(draw: st.DrawFn) -> Via:
    params: list[tuple[str, str | None]] = [("branch", "z9hG4bK" + draw(tokens))]
    if draw(st.booleans()):
        params.append(("rport", draw(st.none() | st.integers(1, 65535).map(str))))
    if draw(st.booleans()):
        params.append(("received", draw(st.one_of(ipv4, ipv6))))
    extension = tokens.filter(
        lambda name: name.lower() not in ("branch", "rport", "received", "ttl", "maddr")
    )
    params += draw(st.lists(st.tuples(extension, st.none() | tokens), max_size=2))
    return Via(draw(tokens).upper(), draw(hosts), draw(ports), params)


call_ids = st.builds(
    lambda a, b: a if b is None else f"{a}@{b}",
    st.text(WORD_CHARS, min_size=1, max_size=16),
    st.none() | st.text(WORD_CHARS, min_size=1, max_size=16),
)
unknown_names = tokens.filter(lambda name: name.lower() not in CANONICAL)
extra_headers = st.lists(
    st.tuples(
        unknown_names | st.sampled_from(["Subject", "Organization", "User-Agent"]),
        free_text.map(str.strip),
    ),
    max_size=4,
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Request, dict[str, object]]:
    method = draw(tokens)
    uri = draw(st.one_of(sip_uris(headers=False), tel_uris))
    typed: dict[str, object] = {
        "vias": draw(st.lists(vias(), min_size=1, max_size=3)),
        "from_": draw(addresses()),
        "to": draw(addresses()),
        "call_id": draw(call_ids),
        "cseq": CSeq(draw(st.integers(0, 2**31 - 1)), method),
        "max_forwards": draw(st.none() | st.integers(0, 255)),
        "request_uri": uri,
    }
    headers = Headers([("Via", via) for via in typed["vias"]])  # type: ignore[attr-defined]
    for name in ("from_", "to", "call_id", "cseq"):
        headers.add(
            {"from_": "From", "to": "To", "call_id": "Call-ID", "cseq": "CSeq"}[name], typed[name]
        )
    if typed["max_forwards"] is not None:
        headers.add("Max-Forwards", typed["max_forwards"])
    for name, value in draw(extra_headers):
        headers.add(name, value)
    return Request(method, str(uri), headers, draw(st.binary(max_size=64))), typed


@st.composite
def responses(draw: st.DrawFn) -> Response:
    request, _ = draw(requests())
    headers = Headers([item for item in request.headers.items() if item[0] != "Max-Forwards"])
    return Response(draw(st.integers(100, 699)), draw(free_text), headers, request.body)


# --- mutation --------------------------------------------------------------

INTERESTING = [b"\r\n", b"\r\n ", b"\r\n\r\n", b":", b";", b",", b"<", b">", b'"', b"\\",
               b"%", b"%0", b" ", b"\t", b"[", b"]", b"@", b"=", b"/", b"\x00", b"\xff",
               b"\xc3", b"Content-Length: 5\r\n", b"l:", b"Via: ", b"SIP/2.0", b"0",
               b"9" * 12]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[at:]
        else:
            end = data.find(b"\r\n", at)
            if end > 0:
                line_start = data.rfind(b"\r\n", 0, at) + 2
                data[line_start:line_start] = data[line_start : end + 2]
    return bytes(data)


def exercise(message: Request | Response) -> None:
    """Every accessor either answers or raises L{SIPParseError}."""
    for accessor in ("call_id", "cseq", "vias", "top_via", "from_", "to", "contacts",
                     "max_forwards", "content_type"):  # fmt: skip
        try:
            value = getattr(message, accessor)
        except SIPParseError:
            continue
        str(value)
    if isinstance(message, Request):
        try:
            str(message.request_uri)
        except SIPParseError:
            pass
    for name, _ in message.headers.items():
        message.headers.get_all(name)


class RobustnessTests(SynchronousTestCase):
    def check(self, data: bytes) -> None:
        try:
            message = parse_message(data)
        except SIPParseError as error:
            self.assertIn(error.status, (400, 505))
            if error.partial is not None:
                self.assertTrue(error.partial.top_via.host)
                exercise(error.partial)
            return
        self.assertEqual(parse_message(bytes(message)), message)
        exercise(message)

    @given(st.binary(max_size=300))
    def test_arbitrary_bytes(self, data: bytes) -> None:
        self.check(data)

    @given(mutated())
    def test_mutated_torture_messages(self, data: bytes) -> None:
        self.check(data)

    @given(st.sampled_from(SEEDS), st.data())
    def test_framer_on_any_bytes(self, seed: bytes, data: st.DataObject) -> None:
        framer = StreamFramer(max_header_bytes=2048, max_body_bytes=4096)
        stream = seed + data.draw(st.binary(max_size=64))
        at = 0
        while at < len(stream):
            size = data.draw(st.integers(1, 256))
            try:
                for message in framer.feed(stream[at : at + size]):
                    if message != b"\r\n\r\n":
                        self.check(message)
            except SIPFramingError:
                return
            at += size


class RoundTripTests(SynchronousTestCase):
    @given(requests())
    def test_requests(self, generated: tuple[Request, dict[str, object]]) -> None:
        request, typed = generated
        parsed = parse_message(bytes(request))
        self.assertEqual(parsed, request)
        for name, value in typed.items():
            self.assertEqual(getattr(parsed, name), value, name)
        self.assertEqual(str(parsed.request_uri), request.uri)

    @given(responses())
    def test_responses(self, response: Response) -> None:
        parsed = parse_message(bytes(response))
        self.assertEqual(parsed, response)
        self.assertEqual(parsed.vias, response.vias)

    @given(st.lists(requests(), min_size=1, max_size=4), st.data())
    def test_framer_reassembles_any_chunking(self, generated: list, data: st.DataObject) -> None:
        wire = [bytes(request) for request, _ in generated]
        stream = b"".join(wire)
        framer = StreamFramer()
        out: list[bytes] = []
        at = 0
        while at < len(stream):
            size = data.draw(st.integers(1, 300))
            out += framer.feed(stream[at : at + size])
            at += size
        self.assertEqual(out, wire)

    @given(sip_uris())
    def test_sip_uris(self, uri: SipURI) -> None:
        parsed = parse_uri(str(uri))
        assert isinstance(parsed, SipURI)
        self.assertEqual(parsed, uri)
        self.assertEqual(
            (
                parsed.user,
                parsed.password,
                parsed.host,
                parsed.port,
                list(parsed.params),
                parsed.headers,
            ),
            (uri.user, uri.password, uri.host, uri.port, list(uri.params), uri.headers),
        )
        if ":" in uri.host:
            self.assertEqual(ipaddress.ip_address(parsed.host), ipaddress.ip_address(uri.host))

    @given(vias())
    def test_vias(self, via: Via) -> None:
        self.assertEqual(parse_via(str(via)), via)
