"""Memory estimates before loading: model shapes, per-part byte counts, per-stage peaks, and the fit check."""
