"""The comparison report of a run folder: ``report.html`` (one file: the leaderboard per mask kind first, then
quality against cost and the grid of outputs, the rest folded; sortable tables, an image comparer per pair),
``report.md`` in the same order, ``figures/*.png`` (each with the CSV of the numbers drawn; ``summary.png`` puts the
leaderboard and quality against cost on one slide) and ``tables/{leaderboard,headline,ranks}.{tex,md}`` for papers.

Modules, in the order the data flows: ``load`` (rows, labels, presets' iterations) → ``compare`` (paired
statistics) and ``paper`` (Table 1) → ``tables`` (leaderboard and every table, as ``cells.Table``) and ``figures``
→ ``build`` (the sections in reading order) → ``render`` (jinja2 templates in ``templates/``). Only rows with status
ok enter a number; every other row is counted and listed; nothing is averaged across mask kinds. Methods are
labelled ``method`` or ``method[preset]``, DIP first.
"""
from dip_bench.bench.report.cells import markdown_table
from dip_bench.bench.report.load import load_run, method_label
from dip_bench.bench.report.render import REPORT_HTML, REPORT_MD, write_report
from dip_bench.bench.report.tables import summary_table

__all__ = ["REPORT_HTML", "REPORT_MD", "load_run", "markdown_table", "method_label", "summary_table", "write_report"]
