"""Listening: what the player plays, placed in time (onsets, pitch classes; later beats)."""
