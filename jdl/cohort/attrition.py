"""Attrition: the buckets every submitted person ends in, in methodology section 2's order."""

from __future__ import annotations

import pandas as pd

DUPLICATE = "duplicate row"
INSUFFICIENT = "insufficient identifiers"
NOT_FOUND = "not found"
AMBIGUOUS = "ambiguous match"
NO_EVENT = "no eligible index event"
OUTSIDE_WINDOW = "index event outside the data window"
UNDER_18 = "under 18 at index"
MISSING_DATA = "missing data needed by the model"
NO_MATCH = "no comparison match"
ANALYSED = "analysed"

OTHER_REASONS = "other reasons (combined: each fewer than 5 people)"

BUCKETS: tuple[str, ...] = (DUPLICATE, INSUFFICIENT, NOT_FOUND, AMBIGUOUS, NO_EVENT, OUTSIDE_WINDOW,
                            UNDER_18, MISSING_DATA, NO_MATCH, ANALYSED)


def bucket_counts(buckets: pd.Series) -> pd.Series:
    """Number of submitted people per bucket, in the methodology's order (zeros included).

    ``buckets`` holds one bucket name per submitted row; a missing value (a person still in the
    flow) is an error, since every person must end in exactly one bucket.
    """
    if buckets.isna().any():
        raise ValueError(f"{int(buckets.isna().sum())} submitted people have no attrition bucket yet")
    unknown = set(buckets.unique()) - set(BUCKETS)
    if unknown:
        raise ValueError(f"unknown attrition buckets: {sorted(unknown)}")
    return buckets.value_counts().reindex(list(BUCKETS), fill_value=0).astype(int)


MIN_SUBMITTED = 60
MIN_ANALYSED = 30


def minimum_criteria(counts: pd.Series) -> str | None:
    """Why a request fails the minimum criteria (methodology section 2), or None when it meets
    them: fewer than 60 people submitted, or fewer than 30 analysed. ``counts`` as from
    :func:`bucket_counts`."""
    submitted, analysed = int(counts.sum()), int(counts.get(ANALYSED, 0))
    if submitted < MIN_SUBMITTED:
        return f"fewer than {MIN_SUBMITTED} people were submitted ({submitted})"
    if analysed < MIN_ANALYSED:
        return f"fewer than {MIN_ANALYSED} people could be analysed ({analysed})"
    return None
