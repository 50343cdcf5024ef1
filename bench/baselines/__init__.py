"""The two handlers the benchmark compares ours with; each runs in a fresh process as its ``app.py``."""
