"""Tests for roomkit_sip.rtp."""
