"""Mutation testing of the pure modules, each against its own unit tests (mutmut 3).

Run: ``python -m bench.mutation`` (needs ``pip install 'mutmut>=3.6'``; tested with 3.8.1).
Options: ``--min-score 90`` (exit 1 below it), ``--module app/call/ledger.py`` (repeatable:
a subset), ``--max-children 1`` (mutmut's parallel workers), ``--show-survivors``
(print each surviving mutant's diff), ``--report-dir DIR`` (write every module's
non-killed mutants, with diffs, and a ``summary.json``).

Each module of ``MODULES`` is mutated on its own, in a throw-away copy of the project
(``app``, ``tests``, ``bench``, ``pyproject.toml``) with a ``[tool.mutmut]`` table added
there, and only the unit tests listed for it are run: a mutant counts as killed only if
its own module's tests notice it, not if some other module's tests or the slow
end-to-end tests happen to. Nothing is written into the working tree; mutmut's
``mutants/`` directory, its stats and Hypothesis' caches live and die in the copy.

Hypothesis runs with its built-in ``ci`` profile (derandomized, no example database, no
deadline, no too-slow health check) so that a score is reproducible: the same code and
tests give the same figure, run after run, and the example database of one mutant
cannot kill the next one. (Under mutmut the first draw is slow, because Hypothesis
harvests constants from the big mutated file, which trips the default profile's
too-slow health check in the stats run.)

Columns: ``mutants`` all mutants of the module; ``killed`` a test failed; ``timeout`` the
tests ran out of CPU time (counted as detected, as mutmut's own badge does);
``survived`` every selected test passed; ``no tests`` no selected test calls the mutated
function (counted as not detected); ``other`` suspicious, segfault, skipped or
interrupted. ``score`` is (killed + timeout) / (mutants - skipped).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tests.support.layers import module_paths, own_tests, pure_modules

# Module under mutation -> the unit tests that are its own. Paths from the project root.
# Every pure module (tests/support/layers.py: by the layout, not a list) whose own tests
# exist is mutated: app/x/y.py against tests/unit/x/test_y.py, or the file named here.
OWN_TESTS_ELSEWHERE: dict[str, tuple[str, ...]] = {
    "app/agent/gemini/wire.py": ("tests/unit/agent/test_gemini_wire.py",),
    "app/agent/gemini/catalog.py": ("tests/unit/agent/test_catalog.py",),
    "app/call/core.py": (  # the core's controls and its dead air are tested apart
        "tests/unit/call/test_core.py",
        "tests/unit/call/test_controls.py",
        "tests/unit/call/test_core_recovery.py",
    ),
}


def has_code(path: Path) -> bool:
    """Whether a module has a function or method for mutmut to mutate (not data only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(tree))


def pure_modules_and_their_tests() -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """(module -> its own tests, for every pure module with code and tests of its own;
    the pure modules without: data, Protocols, or untested)."""
    modules: dict[str, tuple[str, ...]] = {}
    untested = []
    paths = module_paths()
    for module in sorted(pure_modules()):
        path = paths[module].relative_to(ROOT).as_posix()
        if path.endswith("__init__.py") or not has_code(paths[module]):
            continue
        own = own_tests(module)
        tests = OWN_TESTS_ELSEWHERE.get(path) or (
            (own.relative_to(ROOT).as_posix(),) if own.is_file() else ()
        )
        if tests:
            modules[path] = tests
        else:
            untested.append(path)
    return modules, untested


# What the copy needs: the code, the tests and what they import (bench.gemini_wire).
COPIED: tuple[str, ...] = ("app", "tests", "bench", "pyproject.toml")
PYTEST_ARGS: tuple[str, ...] = ("--hypothesis-profile=ci",)
MIN_MUTMUT = (3, 6)  # source_paths and only_mutate arrived in mutmut 3.6
DETECTED = frozenset({"killed", "timeout"})
NOT_RUN = frozenset({"skipped"})
ROOT = Path(__file__).resolve().parent.parent
MODULES, UNTESTED = pure_modules_and_their_tests()


class MutationError(Exception):
    """mutmut is missing, misconfigured, or a run did not finish."""


@dataclass(frozen=True)
class ModuleResult:
    """Every mutant of one module and its status, as ``mutmut results --all`` says."""

    module: str
    tests: tuple[str, ...]
    status_by_mutant: dict[str, str]
    diff_by_mutant: dict[str, str]

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.status_by_mutant.values())

    @property
    def total(self) -> int:
        return len(self.status_by_mutant)

    @property
    def detected(self) -> int:
        return sum(self.counts[s] for s in DETECTED)

    @property
    def scored(self) -> int:
        return self.total - sum(self.counts[s] for s in NOT_RUN)

    @property
    def other(self) -> int:
        named = {"killed", "timeout", "survived", "no tests"}
        return sum(n for status, n in self.counts.items() if status not in named)

    def not_detected(self) -> list[str]:
        names = (m for m, s in self.status_by_mutant.items() if s not in DETECTED)
        return sorted(names, key=_mutant_order)


def _mutant_order(name: str) -> tuple[str, int]:
    function, _, number = name.rpartition("__mutmut_")
    return (function, int(number)) if number.isdigit() else (name, 0)


def score(detected: int, scored: int) -> float | None:
    return 100.0 * detected / scored if scored else None


def mutmut_command() -> list[str]:
    """The command that runs this environment's mutmut, or a clear error."""
    try:
        version = metadata.version("mutmut")
    except metadata.PackageNotFoundError:
        raise MutationError(
            "mutmut is not installed in this environment: pip install 'mutmut>=3.6'"
        ) from None
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_MUTMUT:
        raise MutationError(f"mutmut {version} is too old: pip install 'mutmut>=3.6'")
    scripts = metadata.entry_points(group="console_scripts", name="mutmut")
    entry = next(iter(scripts), None)
    if entry is None:
        raise MutationError("mutmut has no 'mutmut' console script: reinstall it")
    # Import the entry point as a module (as the console script does), not `-m mutmut`,
    # which mutmut's forked workers would re-execute.
    code = f"import sys; from {entry.module} import {entry.attr} as main; sys.exit(main())"
    return [sys.executable, "-c", code]


def mutmut_version() -> str:
    return metadata.version("mutmut")


def _copy_project(work: Path) -> None:
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.pyc", ".hypothesis", ".pytest_cache", ".mypy_cache", "mutants"
    )
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=ignore)
        else:
            shutil.copy2(source, work / name)


def _toml_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))  # a JSON array of plain strings is a TOML array


def _write_config(pyproject: Path, module: str, tests: Sequence[str]) -> None:
    text = pyproject.read_text("utf-8")
    if "mutmut" in tomllib.loads(text).get("tool", {}):
        raise MutationError(
            "pyproject.toml has a [tool.mutmut] table; bench.mutation writes its own "
            "configuration per module: remove that table"
        )
    package = Path(module).parts[0]
    also_copy = [name for name in COPIED if name not in (package, "tests", "pyproject.toml")]
    table = (
        "\n\n[tool.mutmut]\n"
        f"source_paths = {_toml_list([package])}\n"
        f"only_mutate = {_toml_list([module])}\n"
        f"also_copy = {_toml_list(also_copy)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        f"pytest_add_cli_args = {_toml_list(PYTEST_ARGS)}\n"
    )
    pyproject.write_text(text + table, "utf-8")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "utf-8"  # mutant names contain 'ǁ'
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _readable_tail(log: Path, lines: int = 40) -> str:
    text = log.read_text("utf-8", errors="replace").replace("\r", "\n")
    kept = [line for line in text.splitlines() if line.strip() and "⠋" not in line]
    return "\n".join(kept[-lines:])


def _parse_results(output: str) -> dict[str, str]:
    status_by_mutant: dict[str, str] = {}
    for line in output.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            status_by_mutant[name] = status
    return status_by_mutant


def run_module(
    command: list[str], module: str, tests: tuple[str, ...], *, max_children: int, diffs: bool
) -> ModuleResult:
    env = _environment()
    with tempfile.TemporaryDirectory(prefix="bench-mutation-") as tmp:
        work = Path(tmp)
        _copy_project(work)
        _write_config(work / "pyproject.toml", module, tests)
        log = work / "mutmut-run.log"
        with log.open("wb") as out:
            run = subprocess.run(
                [*command, "run", "--max-children", str(max_children)],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if run.returncode != 0:
            raise MutationError(
                f"mutmut run failed for {module} (exit {run.returncode}):\n{_readable_tail(log)}"
            )
        listed = subprocess.run(
            [*command, "results", "--all", "true"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
        )
        status_by_mutant = _parse_results(listed.stdout)
        if not status_by_mutant:
            raise MutationError(f"mutmut made no mutants of {module}:\n{_readable_tail(log)}")
        unchecked = [m for m, s in status_by_mutant.items() if s == "not checked"]
        if unchecked:
            raise MutationError(f"{len(unchecked)} mutants of {module} were never run")
        diff_by_mutant: dict[str, str] = {}
        if diffs:
            for mutant, status in sorted(status_by_mutant.items()):
                if status in DETECTED:
                    continue
                shown = subprocess.run(
                    [*command, "show", mutant],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    encoding="utf-8",
                    check=True,
                )
                diff_by_mutant[mutant] = shown.stdout
    return ModuleResult(module, tests, status_by_mutant, diff_by_mutant)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def table(results: Sequence[ModuleResult]) -> str:
    header = ("module", "mutants", "killed", "timeout", "survived", "no tests", "other", "score")
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        c = r.counts
        rows.append(
            (
                r.module,
                str(r.total),
                str(c["killed"]),
                str(c["timeout"]),
                str(c["survived"]),
                str(c["no tests"]),
                str(r.other),
                _percent(score(r.detected, r.scored)),
            )
        )
    total = Counter[str]()
    for r in results:
        total.update(r.counts)
    detected = sum(r.detected for r in results)
    scored = sum(r.scored for r in results)
    rows.append(
        (
            "total",
            str(sum(r.total for r in results)),
            str(total["killed"]),
            str(total["timeout"]),
            str(total["survived"]),
            str(total["no tests"]),
            str(sum(r.other for r in results)),
            _percent(score(detected, scored)),
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        values = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in values]
        lines.append("  ".join(cells))
        if n == 0 or n == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_report(report_dir: Path, results: Sequence[ModuleResult]) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    for r in results:
        stem = Path(r.module).with_suffix("").as_posix().replace("/", ".")
        lines = [f"# {r.module} against {' '.join(r.tests)}: mutants not detected", ""]
        for mutant in r.not_detected():
            lines.append(f"{mutant}: {r.status_by_mutant[mutant]}")
        lines.append("")
        for mutant in r.not_detected():
            lines.append(r.diff_by_mutant.get(mutant, f"# {mutant}: (no diff recorded)"))
        (report_dir / f"{stem}.txt").write_text("\n".join(lines), "utf-8")
        summary[r.module] = {
            "tests": list(r.tests),
            "mutants": r.total,
            "counts": dict(r.counts),
            "score": score(r.detected, r.scored),
        }
    summary_file = report_dir / "summary.json"
    summary_file.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", "utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.mutation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--min-score", type=float, default=90.0, help="exit 1 below this total")
    parser.add_argument("--module", action="append", choices=sorted(MODULES), default=[])
    parser.add_argument("--max-children", type=int, default=1, help="mutmut's parallel workers")
    parser.add_argument("--show-survivors", action="store_true", help="print their diffs")
    parser.add_argument("--report-dir", type=Path, help="write the survivors and a summary here")
    args = parser.parse_args(argv)
    selected = args.module or list(MODULES)
    missing = [p for m in selected for p in (m, *MODULES[m]) if not (ROOT / p).is_file()]
    if missing:
        print(f"bench.mutation: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        command = mutmut_command()
        print(f"mutmut {mutmut_version()}, pytest {' '.join(PYTEST_ARGS)}", flush=True)
        if not args.module and UNTESTED:
            print(f"  pure, with no unit tests of their own: {', '.join(UNTESTED)}", flush=True)
        results = []
        for module in selected:
            tests = MODULES[module]
            print(f"  {module} against {' '.join(tests)} ...", flush=True)
            result = run_module(
                command,
                module,
                tests,
                max_children=args.max_children,
                diffs=args.show_survivors or args.report_dir is not None,
            )
            results.append(result)
    except MutationError as error:
        print(f"bench.mutation: {error}", file=sys.stderr)
        return 2
    if args.show_survivors:
        for r in results:
            for mutant in r.not_detected():
                print(r.diff_by_mutant[mutant])
    print()
    print(table(results))
    if args.report_dir is not None:
        write_report(args.report_dir, results)
        print(f"\nsurvivors written to {args.report_dir}")
    total = score(sum(r.detected for r in results), sum(r.scored for r in results))
    if total is None or total < args.min_score:
        print(f"\nmutation score {_percent(total)} is below --min-score {args.min_score:g} %")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
