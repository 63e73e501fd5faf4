"""The harness `maskgate bench` runs: its entry and flags (command.py), the real frame loop timed on a fixed frame
set (loop.py, frames.py), the synthetic door day and its bench (door_day.py, door_day_bench.py), and where the
shared data lives (shared_dir.py, for tests and benchmarks/ too). Sits above everything it measures: may import
edge.app and edge.pipeline and everything below them, never edge.cli; nothing but edge.cli imports it.
"""
