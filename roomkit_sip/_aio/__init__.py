# -*- test-case-name: tests.aio -*-
"""
Private plumbing of the asyncio adapter (L{roomkit_sip.asyncio}).

L{bridge <roomkit_sip._aio.bridge>} puts the Twisted engine on the
application's asyncio loop and converts between Deferreds and asyncio
futures; L{callbacks <roomkit_sip._aio.callbacks>} invokes the application's
sync or coroutine callbacks without losing their errors.  Nothing here
installs a reactor at import time.
"""
