"""
The media engine of a call: one L{MediaSession} per call over a bound
RTP/RTCP port pair, paced by the reactor-wide L{MediaClock}.
"""

from roomkit_sip.media.address import check_target
from roomkit_sip.media.config import MediaConfig
from roomkit_sip.media.session import MediaSession
from roomkit_sip.media.watchdog import MEDIA_LOST, MEDIA_NOT_ESTABLISHED

__all__ = ["MEDIA_LOST", "MEDIA_NOT_ESTABLISHED", "MediaConfig", "MediaSession", "check_target"]
