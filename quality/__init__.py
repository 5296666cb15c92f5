"""Data-quality gates (Great Expectations 1.x suites as plain functions; GX itself is imported lazily)."""

from quality.labels import (
    ACCEPTED_LABEL_COLUMNS,
    SUITE_NAME,
    LabelSchemaError,
    LabelValidation,
    build_suite,
    validate_labels,
)

__all__ = ["ACCEPTED_LABEL_COLUMNS", "SUITE_NAME", "LabelSchemaError", "LabelValidation", "build_suite",
           "validate_labels"]
