# -*- test-case-name: tests.service.test_jsonlog -*-
"""
JSON log lines on standard output, for log shippers:
C{twistd -n --logger=roomkit_sip.service.jsonlog.stdout_observer roomkit-sip}.

twistd's C{--logger} wants a factory that takes no argument, and Twisted's
C{jsonFileLogObserver} needs a file; this is that factory.  Every event of
the service carries plain keys (C{call_id}, C{caller}, C{reason}, ...), so
each line is a complete JSON record a shipper can index.
"""

from __future__ import annotations

import sys

from twisted.logger import FileLogObserver, jsonFileLogObserver


def stdout_observer() -> FileLogObserver:
    """One JSON event per line on C{sys.stdout} (RFC 7464 record separators)."""
    return jsonFileLogObserver(sys.stdout)
