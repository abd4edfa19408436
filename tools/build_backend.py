"""
In-tree PEP 517 backend: setuptools, with one default changed.

``twisted/plugins`` lives at the project root with no ``__init__.py``; Twisted
finds plugin modules by scanning every ``sys.path`` entry for such a folder.
setuptools' default editable mode installs an import hook instead of a path
entry, so ``pip install -e .`` would hide ``twistd roomkit-sip``.  Editable
builds therefore default to ``editable_mode=compat`` (a path entry); pass
``--config-settings editable_mode=...`` to override.
"""

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (re-export the PEP 517 hooks)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    settings = dict(config_settings or {})
    settings.setdefault("editable_mode", "compat")
    return _setuptools.build_editable(wheel_directory, settings, metadata_directory)
