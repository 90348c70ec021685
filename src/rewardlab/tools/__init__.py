"""Commands around the pipeline: score, compare, export, report, bench and presets (exp)."""
