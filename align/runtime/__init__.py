"""Run-time plumbing: the context object, devices and ranks, launching, console output, crash points, errors."""
