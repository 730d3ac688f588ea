"""Running a month: params files (requests), the papermill runner, the safe error channel, and
retention of outputs."""
