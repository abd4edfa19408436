"""
Publishes the built-in codecs (PCMU, PCMA, G.722) for
C{twisted.plugin.getPlugins(ICodec)}.

Kept import-light on purpose: Twisted imports every plugin module to build its
plugin cache, so this binds module-level instances and nothing else; the
G.722 extension itself loads only when a call first needs an encoder.
"""

from roomkit_sip.codecs.g711 import PCMA, PCMU
from roomkit_sip.codecs.g722 import G722

__all__ = ["G722", "PCMA", "PCMU"]
