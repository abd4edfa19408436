"""
roomkit-sip's test suite.

Every test is a trial test case, so the suite runs under both
C{python -m twisted.trial tests} and C{pytest}.  Hypothesis profiles live here
(not in a conftest) so that trial sees them too.
"""

import logging
import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The asyncio backend forwards the package's log events to stdlib logging
# (roomkit_sip._aio.logging_bridge).  Under trial nothing configures logging,
# so the last-resort handler would print every warning of the service tests;
# the events still reach trial's log and pytest's capture (root handlers).
logging.getLogger("roomkit_sip").addHandler(logging.NullHandler())
