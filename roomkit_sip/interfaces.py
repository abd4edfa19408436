"""
The interfaces plugin authors implement, in one module so that a plugin needs a
single import.  Providers are published as module-level objects in any
C{twisted/plugins/} folder on C{sys.path} and found with
C{twisted.plugin.getPlugins(ICodec)} (they must also provide C{IPlugin}).
"""

from zope.interface import Attribute, Interface


class IEncoder(Interface):
    """One direction of one call: PCM in, RTP payload out.  May keep state."""

    def encode(pcm: bytes) -> bytes:
        """
        Encode one frame of 16-bit signed little-endian mono PCM at the
        codec's C{sample_rate} into an RTP payload.
        """


class IDecoder(Interface):
    """One direction of one call: RTP payload in, PCM out.  May keep state."""

    def decode(payload: bytes) -> bytes:
        """Decode one RTP payload into 16-bit signed little-endian mono PCM."""


class ICodec(Interface):
    """
    An audio codec usable on an RTP stream.

    G.722 is why encoders and decoders are separate, stateful objects: it is
    ADPCM, so each direction of each call needs its own state (RFC 3551 §4.5.2).
    """

    encoding_name = Attribute("Encoding name as written in a=rtpmap (e.g. C{'PCMU'}, C{'G722'}).")
    payload_type = Attribute(
        "RTP payload type: the static one (RFC 3551) or the preferred dynamic one (96-127)."
    )
    clock_rate = Attribute(
        "RTP timestamp clock rate in Hz as advertised in SDP (8000 for G.722, RFC 3551 §4.5.2)."
    )
    sample_rate = Attribute("Rate in Hz of the PCM the encoder takes and the decoder returns.")
    channels = Attribute("Number of audio channels (1 for the built-ins).")
    frame_ms = Attribute("Default packetisation time in milliseconds (a=ptime).")
    fmtp = Attribute("Format parameters to advertise in a=fmtp, or C{None}.")

    def new_encoder() -> IEncoder:
        """Return a fresh encoder for one outgoing stream."""

    def new_decoder() -> IDecoder:
        """Return a fresh decoder for one incoming stream."""


class IAuthProvider(Interface):
    """
    Where digest authentication finds a user's secret.

    Returning an HA1 instead of the password means passwords need not be stored
    in clear (RFC 7616 §3.4.2: HA1 = H(username:realm:password)).
    """

    def lookup(realm: str, username: str):
        """
        Find the secret of C{username} in C{realm}.

        @return: C{None} if the user is unknown; a C{str} plain password; or a
            mapping of digest algorithm name (C{'MD5'}, C{'SHA-256'}) to that
            algorithm's hex HA1.  Any of these may be wrapped in a C{Deferred}.
        """


class IAuthProviderFactory(Interface):
    """
    A plugin that builds an L{IAuthProvider} from a one-string argument, in the
    manner of C{twisted.cred.strcred.ICheckerFactory} (C{--auth TYPE:ARGUMENT}).
    """

    authType = Attribute("Short name used on the command line, e.g. C{'htdigest'}.")
    authHelp = Attribute("One paragraph of help for operators.")
    argumentFormat = Attribute("What the argument looks like, e.g. C{'path to an htdigest file'}.")

    def create(argument: str) -> IAuthProvider:
        """Build a provider from C{argument}; raise C{ValueError} with a clear message if bad."""


class ICallHandler(Interface):
    """
    What an application does with calls: the one object the call engine reports
    to.  L{roomkit_sip.engine.CallHandler} gives no-op defaults to subclass.

    Every method runs on the reactor thread.  An exception (or a failed
    C{Deferred}) is logged by the engine and never disturbs another call.
    """

    def incoming_call(incoming):
        """
        An authenticated INVITE asks to be answered.

        @param incoming: a L{roomkit_sip.engine.IncomingCall}.
        @return: C{None} to answer automatically (180, then 200); a
            C{(status, reason)} tuple to reject (any 4xx-6xx);
            C{incoming.MANUAL} to answer later through C{incoming}; or a
            C{Deferred} firing with one of these.  A CANCEL arriving first
            wins: the caller gets 487 and the C{Deferred} is cancelled.
        """

    def call_answered(call):
        """The 200 OK with our SDP answer went out; C{call} has media running."""

    def audio_received(call, pcm):
        """
        One decoded frame of caller audio: 16-bit signed little-endian mono PCM
        at C{call.sample_rate} (20 ms unless the peer asked another ptime).
        """

    def dtmf_received(call, event):
        """
        A key press, reported once: a L{roomkit_sip.engine.DTMFEvent} from RFC
        4733 telephone events or SIP INFO.
        """

    def call_ended(call):
        """
        C{call} is over and every resource it held is released; called exactly
        once per answered call, whatever ended it (the reason is in
        C{call.metadata["disconnect_reason"]}).
        """
