"""Evaluation (综合评价): indicators over the case history, rules versions, snapshots, exports."""
