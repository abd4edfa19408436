# -*- test-case-name: tests.auth.test_factories -*-
"""
The built-in L{IAuthProviderFactory} plugins (C{memory}, C{htdigest}) and
L{make_provider}, which turns C{--auth TYPE:ARGUMENT} into a provider.

Import-light on purpose: twistd imports every plugin module to build its
help, so the providers are imported only when a factory builds one.
"""

from __future__ import annotations

from twisted.plugin import IPlugin, getPlugins
from zope.interface import implementer

from roomkit_sip.interfaces import IAuthProvider, IAuthProviderFactory


@implementer(IAuthProviderFactory, IPlugin)
class MemoryAuthProviderFactory:
    """Users given on the command line: C{memory:alice:secret1,bob:secret2}."""

    authType = "memory"
    authHelp = (
        "Users and passwords listed in the argument itself. Passwords end up in the "
        "process list and shell history, so keep this for tests and demos."
    )
    argumentFormat = "user:password[,user2:password2...] (passwords cannot contain ',')"

    def create(self, argument: str) -> IAuthProvider:
        from roomkit_sip.auth.providers import DictAuthProvider

        users: dict[str, str] = {}
        for entry in argument.split(","):
            username, colon, password = entry.partition(":")
            if not colon or not username:
                raise ValueError(f"memory auth: expected user:password, got {entry!r}")
            if username in users:
                raise ValueError(f"memory auth: user {username!r} given twice")
            users[username] = password
        return DictAuthProvider(users)


@implementer(IAuthProviderFactory, IPlugin)
class HtdigestAuthProviderFactory:
    """Users from an Apache htdigest file: C{htdigest:/etc/roomkit-sip/users.htdigest}."""

    authType = "htdigest"
    authHelp = (
        "Users from an Apache htdigest file (user:realm:MD5-HA1, optionally followed by "
        ":SHA-256-HA1), re-read whenever it changes. Create it with "
        "`htdigest -c FILE REALM USER`; REALM must match --realm."
    )
    argumentFormat = "path to an htdigest file"

    def create(self, argument: str) -> IAuthProvider:
        from roomkit_sip.auth.htdigest import HtdigestFileAuthProvider

        if not argument:
            raise ValueError("htdigest auth: give the path of the file")
        return HtdigestFileAuthProvider(argument)


def make_provider(description: str) -> IAuthProvider:
    """
    Build a provider from C{TYPE:ARGUMENT}, TYPE being any installed
    factory's C{authType} (found with C{getPlugins(IAuthProviderFactory)}).

    @raise ValueError: unknown type or bad argument, in one line.
    """
    auth_type, _, argument = description.partition(":")
    factories = {f.authType: f for f in getPlugins(IAuthProviderFactory)}
    factory = factories.get(auth_type)
    if factory is None:
        known = ", ".join(sorted(factories)) or "none installed"
        raise ValueError(f"unknown auth type {auth_type!r} (known: {known})")
    return factory.create(argument)
