"""Filter rules (`rules`) over what the judges measured on each image (`rules.violation`)."""

from pipeline.filters.rules import REASONS, RULES, THRESHOLD_RULES, attribute_judge, judge

__all__ = ["REASONS", "RULES", "THRESHOLD_RULES", "attribute_judge", "judge"]
