"""L{roomkit_sip.sip.headers}: names, compact forms, list splitting, the multimap."""

from twisted.trial.unittest import SynchronousTestCase

from roomkit_sip.sip.headers import COMPACT_FORMS, Headers, canonical, split_list


class CanonicalTests(SynchronousTestCase):
    def test_known_names_take_rfc_capitalisation(self) -> None:
        self.assertEqual(canonical("call-id"), ("call-id", "Call-ID"))
        self.assertEqual(canonical("CSEQ"), ("cseq", "CSeq"))
        self.assertEqual(canonical("www-authenticate"), ("www-authenticate", "WWW-Authenticate"))
        self.assertEqual(canonical("mAx-FoRwArDs"), ("max-forwards", "Max-Forwards"))

    def test_compact_forms_rfc3261(self) -> None:
        # RFC 3261 §7.3.3 and §20: the ten compact forms of the base spec.
        expected = {
            "c": "Content-Type",
            "e": "Content-Encoding",
            "f": "From",
            "i": "Call-ID",
            "k": "Supported",
            "l": "Content-Length",
            "m": "Contact",
            "s": "Subject",
            "t": "To",
            "v": "Via",
        }
        for short, full in expected.items():
            self.assertEqual(canonical(short)[1], full)
            self.assertEqual(canonical(short.upper())[1], full)

    def test_compact_forms_registered_later(self) -> None:
        expected = {
            "a": "Accept-Contact",
            "b": "Referred-By",
            "d": "Request-Disposition",
            "j": "Reject-Contact",
            "n": "Identity-Info",
            "o": "Event",
            "r": "Refer-To",
            "u": "Allow-Events",
            "x": "Session-Expires",
            "y": "Identity",
        }
        for short, full in expected.items():
            self.assertEqual(canonical(short)[1], full)
        self.assertEqual(len(COMPACT_FORMS), 20)

    def test_unknown_names_keep_their_spelling(self) -> None:
        self.assertEqual(canonical("X-Custom-Thing"), ("x-custom-thing", "X-Custom-Thing"))

    def test_names_must_be_tokens(self) -> None:
        for bad in ("", "Bad Name", "Colon:", 'Quote"', "Tab\t", "Ünicode"):
            self.assertRaises(ValueError, canonical, bad)


class SplitListTests(SynchronousTestCase):
    def test_plain(self) -> None:
        self.assertEqual(split_list("INVITE, ACK ,BYE"), ["INVITE", "ACK", "BYE"])

    def test_single(self) -> None:
        self.assertEqual(split_list("INVITE"), ["INVITE"])

    def test_never_inside_quotes(self) -> None:
        self.assertEqual(
            split_list('"Bell, Alexander" <sip:a@b>, <sip:c@d>'),
            ['"Bell, Alexander" <sip:a@b>', "<sip:c@d>"],
        )

    def test_escaped_quote_does_not_end_the_string(self) -> None:
        self.assertEqual(
            split_list('"a \\", b" <sip:a@b>, <sip:c@d>'),
            ['"a \\", b" <sip:a@b>', "<sip:c@d>"],
        )

    def test_never_inside_angle_brackets(self) -> None:
        self.assertEqual(
            split_list("<sip:a@b;x=1,2>, <sip:c@d>"), ["<sip:a@b;x=1,2>", "<sip:c@d>"]
        )

    def test_empty_elements_are_kept_for_strict_callers(self) -> None:
        self.assertEqual(split_list("a,,b"), ["a", "", "b"])


class HeadersTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.headers = Headers(
            [
                ("v", "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com"),
                ("Via", "SIP/2.0/TCP c.example.com"),
                ("X-Thing", "one"),
                ("f", "<sip:alice@example.com>;tag=1"),
                ("WWW-Authenticate", 'Digest realm="a", nonce="b", qop="auth"'),
                ("x-thing", "two"),
                ("Allow", "INVITE, ACK"),
                ("Allow", "BYE"),
            ]
        )

    def test_compact_names_are_stored_expanded(self) -> None:
        self.assertEqual(
            [name for name, _ in self.headers.items()],
            ["Via", "Via", "X-Thing", "From", "WWW-Authenticate", "x-thing", "Allow", "Allow"],
        )

    def test_get_is_case_insensitive_and_takes_compact_forms(self) -> None:
        self.assertEqual(self.headers.get("FROM"), "<sip:alice@example.com>;tag=1")
        self.assertEqual(self.headers.get("f"), "<sip:alice@example.com>;tag=1")
        self.assertEqual(self.headers.get("x-THING"), "one")
        self.assertIsNone(self.headers.get("To"))

    def test_get_of_a_list_header_is_its_first_element(self) -> None:
        self.assertEqual(self.headers.get("Via"), "SIP/2.0/UDP a.example.com;branch=z9hG4bK1")

    def test_get_all_splits_list_headers_across_lines(self) -> None:
        self.assertEqual(
            self.headers.get_all("via"),
            [
                "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
                "SIP/2.0/UDP b.example.com",
                "SIP/2.0/TCP c.example.com",
            ],
        )
        self.assertEqual(self.headers.get_all("Allow"), ["INVITE", "ACK", "BYE"])

    def test_get_all_never_splits_authentication_headers(self) -> None:
        value = 'Digest realm="a", nonce="b", qop="auth"'
        self.assertEqual(self.headers.get_all("www-authenticate"), [value])
        self.assertEqual(self.headers.get("WWW-Authenticate"), value)

    def test_non_list_headers_are_never_split(self) -> None:
        headers = Headers([("Date", "Sat, 13 Nov 2010 23:29:00 GMT"), ("X-List", "a, b")])
        self.assertEqual(headers.get_all("Date"), ["Sat, 13 Nov 2010 23:29:00 GMT"])
        self.assertEqual(headers.get_all("x-list"), ["a, b"])

    def test_get_all_drops_empty_elements(self) -> None:
        headers = Headers([("Supported", ""), ("Require", "a,,b"), ("Supported", ", timer")])
        self.assertEqual(headers.get_all("Supported"), ["timer"])
        self.assertEqual(headers.get("Supported"), "timer")
        self.assertEqual(headers.get_all("Require"), ["a", "b"])
        self.assertIsNone(Headers([("Allow", "")]).get("Allow"))

    def test_rows_are_unsplit(self) -> None:
        self.assertEqual(
            self.headers.rows("v"),
            [
                "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com",
                "SIP/2.0/TCP c.example.com",
            ],
        )

    def test_unknown_names_match_case_insensitively(self) -> None:
        self.assertEqual(self.headers.get_all("X-THING"), ["one", "two"])

    def test_add_appends_or_puts_first(self) -> None:
        self.headers.add("Via", "SIP/2.0/UDP top.example.com", first=True)
        self.headers.add("Subject", "hello")
        items = self.headers.items()
        self.assertEqual(items[0], ("Via", "SIP/2.0/UDP top.example.com"))
        self.assertEqual(items[-1], ("Subject", "hello"))

    def test_add_takes_objects_and_trims(self) -> None:
        class Value:
            def __str__(self) -> str:
                return "  70 "

        self.headers.add("Max-Forwards", Value())
        self.assertEqual(self.headers.get("max-forwards"), "70")

    def test_set_replaces_every_line_in_place(self) -> None:
        self.headers.set("VIA", "SIP/2.0/UDP only.example.com")
        self.assertEqual(self.headers.rows("Via"), ["SIP/2.0/UDP only.example.com"])
        self.assertEqual(self.headers.items()[0], ("Via", "SIP/2.0/UDP only.example.com"))

    def test_set_appends_when_absent(self) -> None:
        self.headers.set("Subject", "x")
        self.assertEqual(self.headers.items()[-1], ("Subject", "x"))

    def test_remove(self) -> None:
        self.assertEqual(self.headers.remove("x-thing"), 2)
        self.assertNotIn("X-Thing", self.headers)
        self.assertEqual(self.headers.remove("x-thing"), 0)

    def test_contains(self) -> None:
        self.assertIn("v", self.headers)
        self.assertIn("from", self.headers)
        self.assertNotIn("Contact", self.headers)
        self.assertNotIn(42, self.headers)

    def test_content_length_is_never_stored(self) -> None:
        self.assertRaises(ValueError, self.headers.add, "Content-Length", "0")
        self.assertRaises(ValueError, self.headers.add, "l", "0")
        self.assertRaises(ValueError, self.headers.set, "content-length", "0")

    def test_values_cannot_carry_line_breaks(self) -> None:
        self.assertRaises(ValueError, self.headers.add, "Subject", "a\r\nInjected: yes")
        self.assertRaises(ValueError, self.headers.add, "Subject", "a\nb")

    def test_bad_names_are_refused(self) -> None:
        self.assertRaises(ValueError, self.headers.add, "Bad Name", "x")

    def test_copy_is_independent(self) -> None:
        copy = self.headers.copy()
        self.assertEqual(copy, self.headers)
        copy.add("Subject", "x")
        self.assertNotEqual(copy, self.headers)
        self.assertNotIn("Subject", self.headers)

    def test_equality_ignores_name_case_not_order(self) -> None:
        self.assertEqual(Headers([("X-A", "1")]), Headers([("x-a", "1")]))
        self.assertEqual(Headers([("v", "x")]), Headers([("Via", "x")]))
        self.assertNotEqual(
            Headers([("X-A", "1"), ("X-B", "2")]), Headers([("X-B", "2"), ("X-A", "1")])
        )
        self.assertNotEqual(Headers([("X-A", "1")]), Headers([("X-A", "2")]))
        self.assertNotEqual(Headers([("X-A", "1")]), [("X-A", "1")])

    def test_len_and_iteration(self) -> None:
        self.assertEqual(len(self.headers), 8)
        self.assertEqual(list(self.headers), self.headers.items())

    def test_typed_values_are_cached_until_a_change(self) -> None:
        calls = []

        def parse(rows: list[str]) -> int:
            calls.append(rows)
            return len(rows)

        self.assertEqual(self.headers._typed("x-thing", parse), 2)
        self.assertEqual(self.headers._typed("x-thing", parse), 2)
        self.assertEqual(len(calls), 1)
        self.headers.add("X-Thing", "three")
        self.assertEqual(self.headers._typed("x-thing", parse), 3)
        self.assertEqual(calls[-1], ["one", "two", "three"])


class ReplaceFirstTests(SynchronousTestCase):
    """Headers.replace_first: the value get() returns changes, no line moves."""

    def setUp(self) -> None:
        self.headers = Headers(
            [
                ("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bK1,SIP/2.0/UDP b.example.com"),
                ("Max-Forwards", "70"),
                ("Via", "SIP/2.0/TCP c.example.com"),
                ("x-thing", "one"),
                ("X-Thing", "two, three"),
                ("Route", " , <sip:p1.example.com;lr>"),
            ]
        )

    def test_first_list_element_only(self) -> None:
        """Every line keeps its position; the first line keeps its other elements."""
        self.headers.replace_first("v", "SIP/2.0/UDP new.example.com;branch=z9hG4bK2")
        self.assertEqual(
            self.headers.items(),
            [
                ("Via", "SIP/2.0/UDP new.example.com;branch=z9hG4bK2, SIP/2.0/UDP b.example.com"),
                ("Max-Forwards", "70"),
                ("Via", "SIP/2.0/TCP c.example.com"),
                ("x-thing", "one"),
                ("X-Thing", "two, three"),
                ("Route", ", <sip:p1.example.com;lr>"),
            ],
        )

    def test_not_a_list(self) -> None:
        """An unknown (so never split) field: the first line's whole value, its name as stored."""
        self.headers.replace_first("X-THING", "uno")
        self.assertEqual(
            self.headers.items()[3:5], [("x-thing", "uno"), ("X-Thing", "two, three")]
        )

    def test_skips_empty_elements_as_get_does(self) -> None:
        self.headers.replace_first("Route", "<sip:p2.example.com;lr>")
        self.assertEqual(self.headers.get("Route"), "<sip:p2.example.com;lr>")
        self.assertEqual(self.headers.rows("Route"), [", <sip:p2.example.com;lr>"])

    def test_appends_when_absent(self) -> None:
        self.headers.replace_first("Subject", "x")
        self.assertEqual(self.headers.items()[-1], ("Subject", "x"))

    def test_typed_values_follow(self) -> None:
        """The typed-value cache is dropped: the next accessor sees the new value."""
        self.assertEqual(self.headers._typed("via", list)[1], "SIP/2.0/TCP c.example.com")
        self.headers.replace_first("Via", "SIP/2.0/UDP d.example.com")
        first = self.headers._typed("via", list)[0]
        self.assertEqual(first, "SIP/2.0/UDP d.example.com, SIP/2.0/UDP b.example.com")

    def test_refused_values(self) -> None:
        before = self.headers.items()
        self.assertRaises(ValueError, self.headers.replace_first, "Via", "a\r\nX-Evil: 1")
        self.assertRaises(ValueError, self.headers.replace_first, "Content-Length", "0")
        self.assertRaises(ValueError, self.headers.replace_first, "Bad Name", "x")
        self.assertEqual(self.headers.items(), before)
