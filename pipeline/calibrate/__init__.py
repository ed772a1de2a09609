"""`livo calibrate RUN`: thresholds for the filter rules proposed from a pilot run's stored scores."""

from pipeline.calibrate.run import calibrate_run

__all__ = ["calibrate_run"]
