"""Tests for roomkit_sip.sip."""
