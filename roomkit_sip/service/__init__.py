"""
C{twistd roomkit-sip}: what an operator runs with no code.

The pieces, each in its own module: L{options} (the command line),
L{apps} (what is done with a call: echo, record, prompt, or your own
handler), L{observer} (the wrapper that logs, counts and reports every call
before the application sees it), L{webhooks}, L{metrics} and L{web} (the
outside view), L{recording} and L{audio_files} (files on disk), and
L{service} (the service tree and its drain on stop).  L{roomkit_sip.tap}
ties them together for twistd.
"""
