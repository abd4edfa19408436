"""
The sans-IO SIP signalling core: messages, URIs, SDP, digest authentication,
transactions and dialogs.  Nothing here touches a socket or a reactor; timers
are driven through an injected C{IReactorTime}.
"""
