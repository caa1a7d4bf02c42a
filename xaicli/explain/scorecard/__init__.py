"""The scorecard: methods x measures with bootstrap intervals, the random reference, a ranking."""
