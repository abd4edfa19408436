"""
The C{audioop} module, wherever this Python keeps it.

Python 3.11 and 3.12 ship it in the standard library but warn on import
(PEP 594 removed it from 3.13); from 3.13 on the C{audioop-lts} distribution
installs a module of the same name.  Only that one C{DeprecationWarning} is
silenced, so any other warning raised on import still reaches the user.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="'audioop' is deprecated", category=DeprecationWarning
    )
    try:
        import audioop
    except ModuleNotFoundError as e:  # Python >= 3.13 without the backport
        raise ImportError(
            "G.711 needs the 'audioop' module: on Python 3.13+ install 'audioop-lts'"
        ) from e

__all__ = ["audioop"]
