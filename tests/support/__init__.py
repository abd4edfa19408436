"""
Test-only helpers shared by the interop and media tests.

They are written from the RFCs, not from C{roomkit_sip}: a check that borrows
the code under test cannot catch that code's mistakes.

  - L{tests.support.audio}: tones, G.711 tables, Goertzel, levels, continuity.
  - L{tests.support.pcap}: classic libpcap files of RTP over UDP/IPv4, the
    format SIPp's C{play_pcap_audio} replays.
  - L{tests.support.rtp_sink}: a UDP endpoint that records the RTP sent to it.
"""
