"""improv's real-time engine: sources -> listening -> improviser -> scheduler -> outputs."""

__version__ = "0.1.0"
