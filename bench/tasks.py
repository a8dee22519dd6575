"""Cutting a run's rows into tasks for an executor (``bench.executor``), beside ``bench.estimate`` (what a row
costs) and ``bench.balance`` (which rows compete): tasks of balanced estimated cost that keep the rows of one net and
size together, and the default time limit of a task."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from dip_bench.bench.estimate import Estimate
from dip_bench.bench.suite import Row

#: default time limit of a task: this factor times its longest estimate plus a margin, never under the floor
TIME_FACTOR, TIME_MARGIN_MIN, TIME_FLOOR_MIN = 1.5, 10, 30


def net_key(row: Row) -> tuple[str, str, str]:
    """Rows with the same key build the same net: method, preset and image size."""
    h, w = row.pair.image.shape[:2]
    return row.method.name, row.method.preset, f"{w}x{h}"


def group_rows(rows: Sequence[Row], jobs: int | None, cost: Callable[[Row], float]) -> list[list[Row]]:
    """Cut ``rows`` into at most ``jobs`` tasks of balanced cost (seconds), keeping rows of one net and size
    together: each net's rows are split into consecutive chunks of about equal cost, at most half the mean task
    cost, and the chunks go, largest first, to a task that already holds that net while it stays within the mean,
    else to the least loaded task (longest-processing-time rule). ``jobs=None``: one task per net and
    size. Deterministic; each task keeps the suite's row order; empty tasks are dropped."""
    groups: dict[tuple[str, str, str], list[tuple[int, Row]]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(net_key(row), []).append((index, row))
    jobs = min(jobs or len(groups), len(rows))
    costs = {index: max(cost(row), 1e-3) for index, row in enumerate(rows)}
    cap = sum(costs.values()) / jobs
    chunks: list[tuple[tuple[str, str, str], list[tuple[int, Row]]]] = []
    for key, members in groups.items():
        group_cost = sum(costs[i] for i, _ in members)
        target = group_cost / math.ceil(2 * group_cost / cap - 1e-9)
        chunk: list[tuple[int, Row]] = []
        for member in members:
            if chunk and sum(costs[i] for i, _ in chunk) + costs[member[0]] / 2 > target * (1 + 1e-9):
                chunks.append((key, chunk))
                chunk = []
            chunk.append(member)
        chunks.append((key, chunk))
    chunks.sort(key=lambda c: (-sum(costs[i] for i, _ in c[1]), c[1][0][0]))
    tasks: list[list[tuple[int, Row]]] = [[] for _ in range(jobs)]
    nets: list[set[tuple[str, str, str]]] = [set() for _ in range(jobs)]
    loads = [0.0] * jobs
    for key, chunk in chunks:
        chunk_cost = sum(costs[i] for i, _ in chunk)
        same_net = [j for j in range(jobs) if key in nets[j] and loads[j] + chunk_cost <= cap * (1 + 1e-9)]
        k = min(same_net or range(jobs), key=lambda j: (loads[j], j))
        tasks[k].extend(chunk)
        nets[k].add(key)
        loads[k] += chunk_cost
    return [[row for _, row in sorted(task, key=lambda member: member[0])] for task in tasks if task]


def time_limit_min(per_task: Sequence[Estimate]) -> int:
    """The default time limit of every task in minutes: ``TIME_FACTOR`` times the longest task's estimate plus
    ``TIME_MARGIN_MIN``, never under ``TIME_FLOOR_MIN``."""
    return max(TIME_FLOOR_MIN, math.ceil(
        TIME_FACTOR * max((e.seconds for e in per_task), default=0.0) / 60 + TIME_MARGIN_MIN))
