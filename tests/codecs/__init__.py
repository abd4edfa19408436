"""Tests for roomkit_sip.codecs."""
