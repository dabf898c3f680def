"""Steering agents: ingest annotations, suggest measurements, report (bluesky-adaptive style)."""
