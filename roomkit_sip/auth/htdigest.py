# -*- test-case-name: tests.auth.test_htdigest -*-
"""
An L{IAuthProvider} over an Apache C{htdigest} file, reloaded when it changes.

Line format (one user of one realm per line)::

    user:realm:MD5-HA1[:SHA-256-HA1]

The first three fields are Apache's own (C{htdigest -c FILE REALM USER} writes
them: C{MD5(user:realm:password)}).  The optional fourth field, our extension,
is C{SHA-256(user:realm:password)} in hex, so RFC 8760 clients can be verified
without a password in clear; the MD5 field may then be left empty to refuse
MD5.  Blank lines and lines starting with C{#} are ignored.  User names and
realms cannot contain C{:}, as in Apache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from twisted.logger import Logger
from zope.interface import implementer

from roomkit_sip.interfaces import IAuthProvider
from roomkit_sip.sip.digest import check_ha1

Table = dict[tuple[str, str], dict[str, str]]


def parse_htdigest(lines: Iterable[str], filename: str) -> Table:
    """
    Parse htdigest lines into C{{(realm, user): {algorithm: HA1}}}.

    @raise ValueError: C{"FILE:LINE: problem"} for the first malformed line.
    """
    table: Table = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{filename}:{number}"
        fields = line.split(":")
        if len(fields) not in (3, 4):
            raise ValueError(f"{where}: expected user:realm:md5-ha1[:sha256-ha1]")
        user, realm, md5 = fields[:3]
        if not user or not realm:
            raise ValueError(f"{where}: empty user or realm")
        ha1s = {}
        try:
            if md5:
                ha1s["MD5"] = check_ha1("MD5", md5)
            if len(fields) == 4:
                ha1s["SHA-256"] = check_ha1("SHA-256", fields[3])
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if not ha1s:
            raise ValueError(f"{where}: no HA1 for {user!r}")
        if (realm, user) in table:
            raise ValueError(f"{where}: {user!r} repeated for realm {realm!r}")
        table[realm, user] = ha1s
    return table


def _read(path: str) -> Table:
    try:
        with open(path, encoding="utf-8") as f:
            return parse_htdigest(f, path)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None


@implementer(IAuthProvider)
class HtdigestFileAuthProvider:
    """
    Users from an htdigest file; returns C{{algorithm: HA1}} mappings.

    Each lookup costs one C{stat()}: when the file's mtime, size or inode
    changed (an edit or an atomic rename), it is read again.  A reload that
    fails is logged and the previous users stay in force, so a half-written
    file never locks everybody out.

    @raise ValueError: at construction, if the file is unreadable or malformed
        (the message names the file and line).
    """

    _log = Logger()

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            stamp = self._stamp()
            self._table = _read(self.path)
        except OSError as e:
            raise ValueError(f"cannot read htdigest file {self.path}: {e.strerror}") from None
        self._loaded = stamp

    def _stamp(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _refresh(self) -> None:
        try:
            stamp = self._stamp()
        except OSError as e:
            if self._loaded is not None:
                self._log.error(
                    "htdigest file {path} unreadable ({error}); keeping {count} users",
                    path=self.path,
                    error=e.strerror,
                    count=len(self._table),
                )
            self._loaded = None
            return
        if stamp == self._loaded:
            return
        self._loaded = stamp
        try:
            self._table = _read(self.path)
        except (OSError, ValueError) as e:
            self._log.error(
                "htdigest reload failed, keeping {count} users: {error}",
                count=len(self._table),
                error=str(e),
            )
            return
        self._log.info(
            "htdigest file {path} reloaded: {count} users", path=self.path, count=len(self._table)
        )

    def lookup(self, realm: str, username: str) -> dict[str, str] | None:
        self._refresh()
        ha1s = self._table.get((realm, username))
        return dict(ha1s) if ha1s is not None else None
