"""
Publishes C{twistd roomkit-sip}.

Kept import-light on purpose: twistd imports every plugin module to build its
help, so the service module is named as a string and loaded only when used.
"""

from twisted.application.service import ServiceMaker

roomkit_sip = ServiceMaker(
    "roomkit-sip",
    "roomkit_sip.tap",
    "A SIP voice backend: answers calls and bridges their audio to an application.",
    "roomkit-sip",
)
