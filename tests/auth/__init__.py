"""Tests for roomkit_sip.auth."""
