"""The single place the package version lives (read by setup.cfg)."""

__version__ = "0.1.0.dev0"
