"""Bluesky documents in, raw spectra out: wire decoding, run routing and assembly."""
