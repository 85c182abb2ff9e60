"""``orstream bench all [--quick] [--out DIR]``: every benchmark, its report, data and charts.

For each benchmark of ``orstream bench`` (in the order of ``BENCHMARKS``) it writes, into
``DIR`` (default ``docs/benchmarks``; ``docs/benchmarks/quick`` with ``--quick``, so that a
smoke run never replaces published figures):

- ``<name>.json``: the report, as ``orstream bench <name> --json`` prints it;
- ``<name>.md``: the rendered tables and the charts under a machine stamp, between two
  markers; a page written by hand keeps its text, only the part between the markers is
  replaced (a page without them gets the part appended);
- ``<name>*.png``: the charts (:mod:`orstream.bench._plots`);

then ``README.md``: an index of every report in ``DIR`` with its machine, date and headline.
A benchmark that fails is reported and the others still run.
"""

from __future__ import annotations

import importlib
import json
import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ._catalog import BENCHMARKS
from ._common import format_table, machine_stamp
from ._plots import plots_for

DEFAULT_OUT: Final = Path("docs/benchmarks")
QUICK_OUT: Final = DEFAULT_OUT / "quick"
BEGIN: Final = "<!-- orstream bench all: generated from here; edits below are replaced -->"
END: Final = "<!-- orstream bench all: end of the generated part -->"


def benchmark_names() -> list[str]:
    """Every benchmark ``all`` runs, in the order ``orstream bench`` lists them."""
    return [name for name in BENCHMARKS if name != "all"]


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    out_dir: str | Path | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``names`` (default: every benchmark) and write their files into ``out_dir``;
    ``duration_s`` and ``quick`` go to each benchmark."""
    out = Path(out_dir) if out_dir is not None else (QUICK_OUT if quick else DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    known = benchmark_names()
    chosen = names if names is not None else known
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {', '.join(known)}")
    done = []
    for name in chosen:
        if progress is not None:
            progress(f"== orstream bench {name}{' --quick' if quick else ''}")
        done.append(_run_one(name, duration_s, quick, progress, out))
    index = write_index(out)
    return {
        "benchmark": "all",
        "machine": machine_stamp(),
        "settings": {"quick": quick, "duration_s": duration_s, "out": str(out)},
        "benchmarks": done,
        "index": str(index),
        "errors": [f"{d['name']}: {e}" for d in done for e in d["errors"]],
    }


def _run_one(
    name: str,
    duration_s: float | None,
    quick: bool,
    progress: Callable[[str], None] | None,
    out: Path,
) -> dict[str, Any]:
    t0 = time.monotonic()
    module = importlib.import_module(f"orstream.bench.{name}")
    try:
        report = module.run(duration_s=duration_s, quick=quick, progress=progress)
    except Exception as exc:  # one benchmark failing must not stop the others
        if progress is not None:
            progress(traceback.format_exc())
        return {"name": name, "files": [], "errors": [f"{type(exc).__name__}: {exc}"]}
    flags = (" --quick" if quick else "") + (
        f" --duration {duration_s:g}" if duration_s is not None else ""
    )
    report = {"command": f"orstream bench {name} --json{flags}", **report}
    errors = [str(e) for e in report.get("errors", [])]
    (out / f"{name}.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    try:
        charts = plots_for(name, report, out)
    except Exception as exc:  # a chart that cannot be drawn must not lose the report
        charts = []
        errors.append(f"chart: {type(exc).__name__}: {exc}")
    write_page(out / f"{name}.md", name, module, report, charts)
    return {
        "name": name,
        "files": [f"{name}.json", f"{name}.md", *(c for c, _ in charts)],
        "seconds": round(time.monotonic() - t0, 1),
        "errors": errors,
    }


def generated_part(name: str, module: Any, report: dict[str, Any], charts: list[Any]) -> str:
    """The machine stamp, the command, the rendered report and the charts, between markers."""
    m = report.get("machine", {})
    stamp = (
        f"**Machine:** {m.get('cpu')}, {m.get('usable_cores')} of {m.get('cores')} cores, "
        f"{m.get('memory_gib')} GiB, {m.get('os')}; Python {m.get('python')}, numpy "
        f"{m.get('numpy')}, pyzmq {m.get('pyzmq')}; {m.get('date')}; 1-minute load average "
        f"{m.get('load_avg_1m')}"
        + (f" at the start, {m['load_avg_1m_end']} at the end" if "load_avg_1m_end" in m else "")
        + "."
    )
    lines = [
        BEGIN,
        "",
        f"## Latest run: `{report.get('command', f'orstream bench {name} --json')}`",
        "",
        stamp,
        f"Data: [`{name}.json`]({name}.json).",
        "",
        "```text",
        module.render(report),
        "```",
        "",
        *(f"![{title}]({file})\n" for file, title in charts),
        END,
    ]
    return "\n".join(lines) + "\n"


def write_page(
    path: Path, name: str, module: Any, report: dict[str, Any], charts: list[Any]
) -> None:
    """Write or update ``path``: only the generated part of an existing page changes."""
    part = generated_part(name, module, report, charts)
    if not path.exists():
        doc = _markdown(module.__doc__ or f"orstream bench {name}")
        head, _, body = doc.strip().partition("\n")
        path.write_text(f"# {head.strip()}\n\n{body.strip()}\n\n{part}")
        return
    text = path.read_text()
    if BEGIN in text and END in text:
        before = text[: text.index(BEGIN)]
        after = text[text.index(END) + len(END) :].lstrip("\n")
        path.write_text(before + part + (f"\n{after}" if after else ""))
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + part)


def _markdown(docstring: str) -> str:
    """A module docstring (reStructuredText roles and literals) as Markdown."""
    text = re.sub(r":(?:func|mod|class|data|meth):`~?([^`]+)`", r"`\1`", docstring)
    return text.replace("``", "`")


def _headline(name: str, r: dict[str, Any]) -> str:
    """One line of a report's main figures (``-`` where its shape is not the expected one)."""
    try:
        if name == "transport":
            met = (r.get("goals") or {}).get("met_by_transport", {})
            return "goals met: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in met.items())
        if name == "inference":
            return "; ".join(
                f"{c['model']} {b} p50 {v.get('p50_ms')} ms"
                for c in r["cases"]
                for b, v in c["backends"].items()
            )
        if name == "sim":
            return "; ".join(f"{c['case']} {c['fps_cpu']} frames/CPU-s" for c in r["cases"])
        if name == "echo_ef":
            s = r["summary"]
            return f"EF MAE {s['ef_mae']} over {s['measured']} clips"
        if name == "e2e":
            o, q = r["orstream"], r["ratios"]
            lat = o.get("latency_ms") or {}
            return (
                f"p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms, drops {o.get('drops')};"
                f" / imagezmq loop: p50 {q['p50']}, p99 {q['p99']}"
            )
        if name == "streams":
            g = r["goal"]
            return (
                f"{r['most_streams_held']} streams held with zero drops"
                f" (goal >= {g['streams_min']}: {'met' if g['met'] else 'missed'})"
            )
        if name == "overhead":
            per = r["per_stage_us"]
            hs = "unavailable" if per["holoscan"] is None else f"{per['holoscan']} us"
            return f"per stage: orstream {per['orstream']} us, Holoscan {hs}"
        if name == "closed_loop":
            return "; ".join(
                f"{g}: success {d['summary']['success_rate']:.2f}, SPL {d['summary']['spl']:.2f}"
                for g, d in r["guidances"].items()
            )
    except (KeyError, TypeError, AttributeError):
        return "-"
    return "-"


def write_index(out: Path) -> Path:
    """``README.md`` in ``out``: one row per report found there."""
    rows = []
    for name in benchmark_names():
        data = out / f"{name}.json"
        if not data.exists():
            rows.append([f"`{name}`", BENCHMARKS[name], "not run yet", "", "", ""])
            continue
        report = json.loads(data.read_text())
        m = report.get("machine", {})
        charts = sorted(p.name for p in out.glob(f"{name}*.png") if _is_chart_of(p.name, name))
        page = f"[{name}.md]({name}.md)" if (out / f"{name}.md").exists() else "-"
        rows.append(
            [
                f"`{name}`",
                BENCHMARKS[name],
                f"{page}, [{name}.json]({name}.json)",
                ", ".join(f"[{c}]({c})" for c in charts) or "-",
                f"{str(m.get('date', '-'))[:16]}, {m.get('cpu', '-')}, load {m.get('load_avg_1m')}",
                _headline(name, report),
            ]
        )
    header = ["benchmark", "measures", "report", "charts", "last run", "headline"]
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows),
    ]
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "Every figure here comes from `orstream bench`; each report names its command, the",
            "machine and the date it ran on. `orstream bench all` runs them all and rewrites this",
            "folder (the JSON, the generated part of each page, the charts and this index);",
            "`orstream bench all --quick` is the smoke run, written to `quick/` instead.",
            "Timing figures are only as quiet as the machine was: see each page's load average.",
            "",
            *table,
            "",
            *(
                [
                    "What ran on a GPU (`scripts/gpu-check`, by hand; `bench all` leaves it "
                    "alone): [gpu.md](gpu.md).",
                    "",
                ]
                if (out / "gpu.md").exists()
                else []
            ),
        ]
    )
    path = out / "README.md"
    path.write_text(text)
    return path


def _is_chart_of(file: str, name: str) -> bool:
    stem = file.removesuffix(".png")
    return stem == name or stem.startswith(f"{name}_")


def render(report: dict[str, Any]) -> str:
    """What was run, what it wrote, and any errors."""
    rows = [
        [d["name"], d.get("seconds"), ", ".join(d["files"]) or "-", "; ".join(d["errors"]) or "-"]
        for d in report["benchmarks"]
    ]
    return (
        f"orstream bench all -> {report['settings']['out']} (index {report['index']})\n"
        + format_table(["benchmark", "seconds", "files", "errors"], rows)
    )
