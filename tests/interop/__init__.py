"""
Interop tests: the real SIPp (Debian's C{sip-tester}) against real sockets on
127.0.0.1.  L{tests.interop.sipp} is the harness; C{scenarios/} holds the SIPp
scenarios (C{uac_*.xml}: SIPp calls our UAS; C{peer_*.xml}: SIPp plays the
server's part, to prove the UAC scenarios before the engine exists).
"""
