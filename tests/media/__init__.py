"""Tests for roomkit_sip.media."""
