"""
pytest-only setup.  (trial ignores this file; everything both runners need
lives in tests/__init__.py.)
"""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _scratch_working_directory(tmp_path_factory: pytest.TempPathFactory):
    """
    trial runs the suite inside C{_trial_temp}; under pytest,
    C{TestCase.mktemp()} creates its paths relative to the working directory,
    so give the session a scratch one instead of littering the checkout.
    """
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)
