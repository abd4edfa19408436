"""
Publishes the built-in digest user stores as C{IAuthProviderFactory} plugins
(C{--auth memory:...}, C{--auth htdigest:FILE}).

Kept import-light on purpose: twistd imports every plugin module, and the
factories load their providers only when asked to build one.
"""

from roomkit_sip.auth.factories import HtdigestAuthProviderFactory, MemoryAuthProviderFactory

memory = MemoryAuthProviderFactory()
htdigest = HtdigestAuthProviderFactory()
