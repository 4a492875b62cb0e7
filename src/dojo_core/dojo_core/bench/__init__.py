"""`dojo bench`: the leaderboard of methods under one budget, ROS-free.

For each policy type and preset: train on the same dataset with the same wall-clock budget
(`budget`), evaluate the last checkpoint through the serving controller on the same held-out
seeds (`run`), and merge the row into leaderboard.md/.json/.png (`leaderboard`).

    from dojo_core.bench import BenchConfig, bench_row, budget, update_leaderboard
    row = bench_row('outputs/bench/dataset', 'act', 'cpu', budget('cpu-2core'), BenchConfig(range(1001, 1051)))
    update_leaderboard([row], 'docs/results')
"""
from dojo_core.bench.budget import BUDGETS, Budget, budget
from dojo_core.bench.leaderboard import BenchRow, merge_rows, read_rows, update_leaderboard
from dojo_core.bench.run import BenchConfig, DatasetFacts, bench_row, ensure_dataset, train_row

__all__ = ['BUDGETS', 'BenchConfig', 'BenchRow', 'Budget', 'DatasetFacts', 'bench_row', 'budget', 'ensure_dataset',
           'merge_rows', 'read_rows', 'train_row', 'update_leaderboard']
