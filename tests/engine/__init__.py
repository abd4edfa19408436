"""Tests for roomkit_sip.engine."""
