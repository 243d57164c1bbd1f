"""The run report: `<run>/report.md` with PNG plots, built by `build_report(run_dir)` or `align report`."""

from align.report.build import build_report

__all__ = ["build_report"]
