# -*- test-case-name: tests.aio -*-
"""
Private plumbing of the asyncio adapter (L{roomkit_sip.asyncio}).

The bridge: L{bridge <roomkit_sip._aio.bridge>} puts the Twisted engine on
the application's asyncio loop and converts between Deferreds and asyncio
futures; L{callbacks <roomkit_sip._aio.callbacks>} invokes the
application's sync or coroutine callbacks without losing their errors.

The backend: L{backend <roomkit_sip._aio.backend>} is the public class,
over L{options} (roomkit's keywords), L{admission} (auth, invite filter),
L{runtime} (one run of the engine), L{calls} (the engine's events),
L{sessions}, L{playback}, L{resample}, L{trace}, L{outbound} (dial,
register), L{incoming} (what an invite filter sees) and the value types
(L{roomkit_types}, falling back on L{types} without roomkit).  Nothing here
installs a reactor at import time.
"""
