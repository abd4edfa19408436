"""
roomkit-sip's test suite.

Every test is a trial test case, so the suite runs under both
C{python -m twisted.trial tests} and C{pytest}.  Hypothesis profiles live here
(not in a conftest) so that trial sees them too.
"""

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
