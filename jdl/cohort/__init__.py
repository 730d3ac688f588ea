"""From a checked upload to the analysis data: the national data and its window, linkage,
index events, attrition, the measures (covariates and outcomes, in DuckDB) and the cohort."""
