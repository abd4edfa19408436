# -*- test-case-name: tests.sip.test_transactions -*-
"""
L{ServerIndex}: live server transactions by everything a request is matched
on (RFC 3261 §17.2.3): the branch and sent-by of an RFC 3261 request, the
RFC 2543 fallback fields otherwise, the identifiers of requests without a To
tag (merged requests, §8.2.2.2) and the dialog-ish key that routes a 2xx's
ACK (a transaction of its own) to the INVITE whose 2xx it acknowledges.

Every C{add*} method returns the function that undoes it; the layer runs
them when the transaction terminates, so the index never outlives its
transactions.
"""

from __future__ import annotations

from collections.abc import Callable

from roomkit_sip.sip.fields import Via
from roomkit_sip.sip.message import Request
from roomkit_sip.sip.server_transaction import ServerTransaction
from roomkit_sip.sip.transaction import is_rfc3261_branch

Forget = Callable[[], None]


def _branch_key(via: Via) -> tuple[str | None, str, int | None]:
    # §17.2.3: the branch and the sent-by (host names are case-insensitive).
    return via.branch, via.host.lower(), via.port


def _legacy_key(request: Request) -> tuple[str, int, str | None]:
    return request.call_id, request.cseq.seq, request.from_.tag


def _origin_key(request: Request) -> tuple[str | None, str, int, str]:
    return request.from_.tag, request.call_id, request.cseq.seq, request.method


class ServerIndex:
    """Server transactions by branch, by RFC 2543 fields, by origin, by 2xx."""

    def __init__(self) -> None:
        # (branch, host, port) -> {method: txn}: ACK looks up INVITE, CANCEL any.
        self._branches: dict[tuple[str | None, str, int | None], dict[str, ServerTransaction]] = {}
        # RFC 2543 requests: (Call-ID, CSeq number, From tag) -> candidates.
        self._legacy: dict[tuple[str, int, str | None], list[ServerTransaction]] = {}
        self._vias: dict[ServerTransaction, Via] = {}
        # §8.2.2.2: (From tag, Call-ID, CSeq) of live requests without To tag.
        self._origins: dict[tuple[str | None, str, int, str], ServerTransaction] = {}
        # The 2xx ACK: (Call-ID, CSeq number, From tag, To tag).
        self._accepted: dict[tuple[str, int, str | None, str | None], ServerTransaction] = {}

    @property
    def empty(self) -> bool:
        """Nothing indexed (every transaction has been forgotten)."""
        return not (
            self._branches or self._legacy or self._vias or self._origins or self._accepted
        )

    def add(self, txn: ServerTransaction, via: Via) -> Forget:
        """
        Index a new transaction under the top Via of its request as it was
        received (before C{received}/C{rport} were added).
        """
        request = txn.request
        method = request.method
        self._vias[txn] = via
        if is_rfc3261_branch(via.branch):
            key = _branch_key(via)
            self._branches.setdefault(key, {})[method] = txn

            def forget() -> None:
                del self._vias[txn]
                group = self._branches.get(key, {})
                if group.get(method) is txn:
                    del group[method]
                    if not group:
                        del self._branches[key]

            return forget
        bucket = _legacy_key(request)
        self._legacy.setdefault(bucket, []).append(txn)

        def forget_legacy() -> None:
            del self._vias[txn]
            candidates = self._legacy.get(bucket, [])
            if txn in candidates:
                candidates.remove(txn)
            if not candidates:
                self._legacy.pop(bucket, None)

        return forget_legacy

    def match(
        self, request: Request, via: Via, cancelled: bool = False
    ) -> ServerTransaction | None:
        """
        The transaction C{request} belongs to (the INVITE's for an ACK), or
        with C{cancelled} the one a CANCEL targets: any method but CANCEL,
        INVITE first (§9.2).

        @param via: the request's top Via as received.
        """
        if is_rfc3261_branch(via.branch):
            group = self._branches.get(_branch_key(via))
            if not group:
                return None
            if cancelled:
                return group.get("INVITE") or next(
                    (txn for method, txn in group.items() if method != "CANCEL"), None
                )
            return group.get("INVITE" if request.method == "ACK" else request.method)
        for txn in self._legacy.get(_legacy_key(request), ()):
            if self._legacy_match(txn, request, via, cancelled):
                return txn
        return None

    def _legacy_match(
        self, txn: ServerTransaction, request: Request, via: Via, cancelled: bool
    ) -> bool:
        # RFC 2543 matching: Request-URI, tags, Call-ID, CSeq and the top Via
        # (Call-ID, CSeq number and From tag already selected the bucket).
        original = txn.request
        if self._vias[txn] != via or original.request_uri != request.request_uri:
            return False
        if request.method == "ACK":
            # The ACK's To tag is the one of the response the server sent.
            return original.method == "INVITE" and request.to.tag == txn.to_tag
        if request.to.tag != original.to.tag:
            return False
        if cancelled:
            return original.method != "CANCEL"
        return original.method == request.method

    def merged(self, request: Request) -> bool:
        """
        Whether C{request} (no To tag) has the From tag, Call-ID and CSeq of
        a live transaction it did not match: a merged request (§8.2.2.2).
        """
        return request.to.tag is None and _origin_key(request) in self._origins

    def add_origin(self, txn: ServerTransaction) -> Forget:
        """Remember the identifiers of a request without To tag (§8.2.2.2)."""
        key = _origin_key(txn.request)
        self._origins[key] = txn

        def forget() -> None:
            if self._origins.get(key) is txn:
                del self._origins[key]

        return forget

    def add_accepted(self, txn: ServerTransaction, to_tag: str | None) -> Forget:
        """Route the ACKs of the 2xx C{txn} sent with C{to_tag} to it."""
        request = txn.request
        key = (request.call_id, request.cseq.seq, request.from_.tag, to_tag)
        self._accepted[key] = txn

        def forget() -> None:
            if self._accepted.get(key) is txn:
                del self._accepted[key]

        return forget

    def accepted(self, ack: Request) -> ServerTransaction | None:
        """The INVITE transaction whose 2xx C{ack} acknowledges, if live."""
        return self._accepted.get((ack.call_id, ack.cseq.seq, ack.from_.tag, ack.to.tag))
