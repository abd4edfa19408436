"""Digest authentication of incoming requests: providers, throttling, the authenticator."""
