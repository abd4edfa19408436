"""
The sans-IO media core: RTP/RTCP packets, reception statistics, the jitter
buffer, RFC 4733 telephone events and outbound pacing logic.
"""
