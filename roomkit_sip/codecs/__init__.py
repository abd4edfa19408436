"""Audio codecs: the built-in L{roomkit_sip.interfaces.ICodec} providers and plugin discovery."""
