"""The statistics: the propensity model and matching, the match plan, balance, comparison of
the measures, sensitivity, sub-groups, power, disclosure control and the profile."""
