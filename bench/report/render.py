"""Render the report of a run folder from the jinja2 templates beside this module: ``report.html``, ``report.md``
and ``tables/{leaderboard,headline,ranks}.{tex,md}`` (leaderboard first, as in the report)."""
from __future__ import annotations

from pathlib import Path

import jinja2

from dip_bench.bench.atomic import write_text
from dip_bench.bench.report.build import TABLES, build
from dip_bench.bench.report.cells import inline, latex_escape, md_escape, md_table
from dip_bench.bench.results import RunFolder

REPORT_MD, REPORT_HTML = "report.md", "report.html"
TEMPLATES = Path(__file__).with_name("templates")


def environment() -> jinja2.Environment:
    """The templates' environment: autoescape for HTML; markdown escapes HTML by ``md`` and ``md_table``, LaTeX by
    ``latex``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html", "html.j2"]), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(inline=inline, md=md_escape, md_table=md_table, latex=latex_escape)
    return env


def write_report(run_dir: Path | RunFolder) -> Path:
    """Write ``report.html``, ``report.md``, ``figures/`` and ``tables/`` into the run folder; return ``report.md``.
    Given a ``RunFolder``, its rows and ``meta.json`` as it read them."""
    folder = RunFolder.of(run_dir)
    run_dir = folder.path
    context = build(folder)
    env = environment()
    write_text(run_dir / REPORT_HTML, env.get_template("report.html.j2").render(**context))
    write_text(run_dir / REPORT_MD, env.get_template("report.md.j2").render(**context))
    for name, tables in context["exports"].items():
        if tables:
            write_text(run_dir / TABLES / f"{name}.tex", env.get_template("tables.tex.j2").render(tables=tables))
            write_text(run_dir / TABLES / f"{name}.md", env.get_template("tables.md.j2").render(tables=tables))
        else:
            for suffix in (".tex", ".md"):
                (run_dir / TABLES / f"{name}{suffix}").unlink(missing_ok=True)
    return run_dir / REPORT_MD
