"""
RFC 3261 §25 ABNF as regular-expression fragments.

Each fragment quotes the rules it implements.  The fragments match text that
has already been unfolded (RFC 3261 §7.3.1: every LWS became a single SP), so
C{SWS} and C{LWS} reduce to runs of SP and HTAB.  Character classes are ASCII
only: C{[0-9]} rather than C{\\d}, which would also accept other scripts'
digits.  The quoted-string helpers live here too: they are the same grammar
read backwards.
"""

import re

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*"
#            / "_" / "+" / "`" / "'" / "~" )
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"

# word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" /
#        "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" /
#        "?" / "{" / "}" )
WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"

# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
# quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
# (Undecodable octets arrive as U+DC80-U+DCFF and count as UTF8-NONASCII.)
QUOTED = r'"(?:[ \t!#-\[\]-~\x80-\U0010ffff]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'

# hostname = *( domainlabel "." ) toplabel [ "." ]
# domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
# toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum
HOSTNAME = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?"
)

# IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
IPV4 = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"

# IPv6address = hexpart [ ":" IPv4address ]
# hexpart = hexseq / hexseq "::" [ hexseq ] / "::" [ hexseq ]
# hexseq = hex4 *( ":" hex4)
# hex4 = 1*4HEXDIG
# Deliberately looser than the ABNF: RFC 5118 §4.10 asks receivers to accept
# the "2001:db8:::192.0.2.1" form that RFC 3261's ABNF (from RFC 2373) allows.
IPV6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::" + IPV4 + r")?"

# IPv6reference = "[" IPv6address "]"
IPV6_REFERENCE = r"\[" + IPV6 + r"\]"

# host = hostname / IPv4address / IPv6reference
HOST = r"(?:" + IPV6_REFERENCE + r"|" + IPV4 + r"|" + HOSTNAME + r")"

# gen-value = token / host / quoted-string
# (hostname and IPv4address are tokens already.)
GEN_VALUE = r"(?:" + TOKEN + r"|" + IPV6_REFERENCE + r"|" + QUOTED + r")"

# generic-param = token [ EQUAL gen-value ]
# SEMI = SWS ";" SWS ; EQUAL = SWS "=" SWS
GENERIC_PARAM = r"[ \t]*;[ \t]*(" + TOKEN + r")(?:[ \t]*=[ \t]*(" + GEN_VALUE + r"))?"

# via-params = via-ttl / via-maddr / via-received / via-branch / via-extension
# via-received = "received" EQUAL (IPv4address / IPv6address)
# A Via parameter value may also be a bare IPv6address.  It comes first so
# that extraction never stops at the first colon of one, and the lookahead
# makes a scan (findall) take the same whole value a full match does: without
# it "::ffff:0.0.0.0" would be cut to "::ffff:0".
VIA_PARAM = (
    r"[ \t]*;[ \t]*(" + TOKEN + r")(?:[ \t]*=[ \t]*(" + IPV6 + r"|" + GEN_VALUE + r")"
    r"(?=[ \t]*(?:;|\Z)))?"
)

# unreserved = alphanum / mark ; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
MARK = r"\-_.!~*'()"
# user = 1*( unreserved / escaped / user-unreserved )
# user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
USER_SAFE = "-_.!~*'()&=+$,;?/"
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
PASSWORD_SAFE = "-_.!~*'()&=+$,"
# paramchar = param-unreserved / unreserved / escaped
# param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
PARAM_SAFE = "-_.!~*'()[]/:&+$"
# hname = 1*( hnv-unreserved / unreserved / escaped ) ; hvalue = *( ... )
# hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
HEADER_SAFE = "-_.!~*'()[]/?:+$"

# SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
# userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
# hostport = host [ ":" port ] ; uri-parameters = *( ";" uri-parameter )
# uri-parameter = ... / other-param ; other-param = pname [ "=" pvalue ]
# headers = "?" header *( "&" header ) ; header = hname "=" hvalue
# (Escapes are checked separately: "%" is allowed here, bad_escape_re rejects
# any "%" not followed by two hex digits.)  The *_SAFE strings list the
# characters a component may hold unescaped, for writing.
sip_uri_re = re.compile(
    rf"((?i:sips?)):(?:([A-Za-z0-9{MARK}&=+$,;?/%]+)(?::([A-Za-z0-9{MARK}&=+$,%]*))?@)?"
    rf"({HOST})(?::([0-9]{{1,5}}))?"
    rf"((?:;[A-Za-z0-9{MARK}\[\]/:&+$%]+(?:=[A-Za-z0-9{MARK}\[\]/:&+$%]+)?)*)"
    rf"(?:\?([A-Za-z0-9{MARK}\[\]/?:+$%]+=[A-Za-z0-9{MARK}\[\]/?:+$%]*"
    rf"(?:&[A-Za-z0-9{MARK}\[\]/?:+$%]+=[A-Za-z0-9{MARK}\[\]/?:+$%]*)*))?"
)

# RFC 3966: telephone-uri = "tel:" telephone-subscriber
# global-number-digits = "+" *phonedigit DIGIT *phonedigit
# local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
# visual-separator = "-" / "." / "(" / ")"
# par = parameter / extension / isdn-subaddress ; parameter = ";" pname ["=" pvalue]
# pname = 1*( alphanum / "-" ) ; pvalue = 1*paramchar
tel_uri_re = re.compile(
    r"(?i:tel):(\+[0-9().\-]*[0-9][0-9().\-]*|[0-9A-Fa-f*#().\-]*[0-9A-Fa-f*#][0-9A-Fa-f*#().\-]*)"
    rf"((?:;[A-Za-z0-9\-]+(?:=[A-Za-z0-9{MARK}\[\]/:&+$%]+)?)*)"
)

# absoluteURI = scheme ":" ( hier-part / opaque-part ), made of uric
# uric = reserved / unreserved / escaped ; scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
# (plus "[" and "]", added to reserved by RFC 2732 for IPv6 literals)
absolute_uri_re = re.compile(rf"([A-Za-z][A-Za-z0-9+\-.]*):([A-Za-z0-9{MARK};/?:@&=+$,%\[\]]+)")

# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
# display-name = *(token LWS)/ quoted-string ; LAQUOT = SWS "<" ; RAQUOT = ">" SWS
# (RFC 4475 §3.1.1.6: the LWS before "<" may be absent after a token.)
name_addr_re = re.compile(rf"(?:({QUOTED})|({TOKEN}(?:[ \t]+{TOKEN})*))?[ \t]*<([^<>]*)>(.*)")

token_re = re.compile(TOKEN)
host_re = re.compile(HOST)
ipv4_re = re.compile(IPV4)
ipv6_re = re.compile(IPV6)
gen_value_re = re.compile(GEN_VALUE)

#: Parameter lists are validated as a whole by C{fullmatch} before C{findall}
#: on the single-parameter form extracts the (name, value) pairs; the
#: alternatives are ordered so both passes cut the list the same way.
params_re = re.compile(r"(?:" + GENERIC_PARAM + r")*[ \t]*")
param_re = re.compile(GENERIC_PARAM)
via_param_re = re.compile(VIA_PARAM)

# callid = word [ "@" word ]
callid_re = re.compile(WORD + r"(?:@" + WORD + r")?")

# escaped = "%" HEXDIG HEXDIG   (a "%" not starting one is an error)
bad_escape_re = re.compile(r"%(?![0-9A-Fa-f]{2})")

# quoted-pair, for unquoting.
quoted_pair_re = re.compile(r"\\(.)", re.DOTALL)


def quote_string(text: str) -> str:
    """
    Quote C{text} as a quoted-string, escaping C{"}, C{\\} and the control
    characters qdtext cannot hold (RFC 3261 §25.1 quoted-pair).

    @raise ValueError: C{text} contains CR or LF, which no quoted-pair can carry.
    """
    if "\r" in text or "\n" in text:
        raise ValueError("a quoted-string cannot contain CR or LF")
    return '"' + _NEEDS_QUOTED_PAIR.sub(r"\\\g<0>", text) + '"'


_NEEDS_QUOTED_PAIR = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def unquote_string(quoted: str) -> str:
    """
    The content of a quoted-string that L{QUOTED} matched.
    """
    inner = quoted[1:-1]
    if "\\" in inner:
        return quoted_pair_re.sub(r"\1", inner)
    return inner


def format_host(host: str) -> str:
    """
    A host as written in a URI or Via: IPv6 addresses get their brackets back.
    """
    return f"[{host}]" if ":" in host else host
