"""Tests for roomkit_sip.transport."""
