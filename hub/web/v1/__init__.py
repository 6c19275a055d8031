"""Seed 004's /v1 management API: every answer in the envelope of hub.web.envelope."""
