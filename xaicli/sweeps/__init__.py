"""`xai sweep CONFIG key=a,b seed=0:3`: one normal run per grid point under runs/<sweep>/, on this machine
(a process per GPU or CPU slot) or as a SLURM job array, and sweep.json recording the grid and each
point's state. The run directories are the truth: a sweep run again with the same command skips the
finished points, resumes the interrupted ones, restarts the ones killed before their first checkpoint
(their folder set aside in .attempts/) and leaves running ones alone, so no point ever has two runs.

Modules: grid (the points and their names), state (a point's state, sweep.json, the sweep's lock),
local (the process pool), slurm (the array job), summary (mean +- std over seeds).
"""

from __future__ import annotations

import re
from pathlib import Path

from xaicli.errors import ConfigError
from xaicli.sweeps.grid import Grid, Point, parse_grid, sweep_id
from xaicli.viz import console

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def check_points(config: str, grid: Grid, points: list[Point]):
    """Validate every point's config before anything runs (torch-free); the base config."""
    from xaicli import config as cfgmod

    base = cfgmod.load(config, grid.fixed)
    for p in points:
        cfgmod.load(config, list(p.overrides))
    return base


def plan_point(sweep_dir: Path, config: str, point: Point, retry_failed: bool) -> tuple[str, str, list[str] | None]:
    """(state, detail, the xai arguments that run it, or None to leave it)."""
    from xaicli.sweeps.state import point_state

    run_dir = sweep_dir / point.name
    state, detail = point_state(run_dir)
    fresh = ["train", config, *point.overrides, "--run-dir", str(run_dir)]
    resume = ["train", "--resume", str(run_dir)]
    if state == "pending" or state == "stale":
        return state, detail, fresh
    if state == "interrupted":
        return state, detail, resume
    if state == "failed" and retry_failed:
        return state, detail, resume if (run_dir / "checkpoints" / "last.pt").is_file() else fresh
    return state, detail, None


def run_sweep(config: str, arguments: list[str], name: str | None = None, gpus: list[str] | None = None,
              max_parallel: int | None = None, slurm: bool = False, dry_run: bool = False,
              retry_failed: bool = False) -> dict:
    """Run (or with `slurm`, write and submit) the sweep; returns {"sweep_dir", "name", "points" (sweep.json's),
    "summary", "stopped" (a signal number or None), "script", "job_id", "dry_run"}."""
    import sys

    from xaicli.config.yaml_io import read_yaml_file

    if max_parallel is not None and max_parallel < 1:
        raise ConfigError(f"--max-parallel {max_parallel}: expected 1 or more")
    if slurm and gpus:
        raise ConfigError("--gpus: for sweeps on this machine; each SLURM array task gets its own GPU "
                          "(#SBATCH --gpus-per-node in the written script)")
    if not Path(config).is_file():
        raise ConfigError(f"{config}: no such config file")
    grid = parse_grid(arguments)
    points = grid.points()
    base = check_points(config, grid, points)
    read_yaml_file(config)
    name = name or f"{base.name}-sweep-{sweep_id(Path(config).read_text(encoding='utf-8'), grid)}"
    if not NAME.match(name) or ".." in name:
        raise ConfigError(f"--name {name}: expected letters, digits, '_', '-', '.' or '+' (no path separators)")
    sweep_dir = Path(base.train.runs_dir) / name
    result: dict = {"sweep_dir": str(sweep_dir), "name": name, "stopped": None, "script": None, "job_id": None,
                    "dry_run": dry_run}
    if dry_run and not slurm:
        plans = [plan_point(sweep_dir, config, p, retry_failed) for p in points]
        result["points"] = [{"index": p.index, "name": p.name, "overrides": list(p.overrides), "state": s,
                             "action": _action(args)} for p, (s, _, args) in zip(points, plans, strict=True)]
        result["summary"] = []
        return result
    from xaicli.sweeps.state import SweepLock, SweepRecord, set_aside
    from xaicli.sweeps.summary import summarize_sweep

    sweep_dir.mkdir(parents=True, exist_ok=True)
    with SweepLock(sweep_dir):
        record = SweepRecord(sweep_dir, name, config, grid, points)
        launches = []
        for p in points:
            state, detail, args = plan_point(sweep_dir, config, p, retry_failed)
            record.point(p.index).update(state=state, detail=detail)
            if args is not None and state == "stale" and not slurm:
                moved = set_aside(sweep_dir, sweep_dir / p.name)
                console.info(f"{p.name}: killed before its first checkpoint; its folder is set aside in {moved}")
            if args is not None:
                launches.append((p, args))
        _report_plan(record, launches, len(points))
        if slurm:
            _run_slurm(result, record, sweep_dir, config, points, launches, max_parallel, dry_run, sys.argv)
        else:
            _run_local(result, record, sweep_dir, launches, gpus, max_parallel)
        result["summary"] = summarize_sweep(sweep_dir, points)
        record.data["summary"] = result["summary"]
        record.save()
        result["points"] = record.data["points"]
    return result


def _action(args: list[str] | None) -> str:
    if args is None:
        return "leave"
    return "resume" if "--resume" in args else "start"


def _report_plan(record, launches: list, total: int) -> None:
    states = [p["state"] for p in record.data["points"]]
    counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
    console.info(f"sweep {record.data['name']}: {total} points ({counts}); {len(launches)} to run")
    for p in record.data["points"]:
        if p["state"] == "running":
            console.info(f"{p['name']}: running elsewhere ({p['detail']}); left alone")
        if p["state"] == "failed" and not any(lp.index == p["index"] for lp, _ in launches):
            console.info(f"{p['name']}: failed ({p['detail']}); left alone (--retry-failed runs it again)")
    record.save()


def _run_local(result: dict, record, sweep_dir: Path, launches: list, gpus, max_parallel) -> None:
    from xaicli.sweeps.local import Launch, LocalRunner, slots
    from xaicli.sweeps.state import point_state

    total, done = len(launches), []

    def started(point, slot) -> None:
        p = record.point(point.index)
        record.update(point.index, state="running", detail=f"slot {slot}", launches=p.get("launches", 0) + 1)
        console.info(f"start {point.name}")

    def ended(outcome) -> None:
        done.append(outcome)
        state, detail = point_state(sweep_dir / outcome.point.name)
        record.update(outcome.point.index, state=state, detail=detail, exit_code=outcome.exit_code)
        console.info(f"[{len(done)}/{total}] {outcome.point.name}: {state} (exit {outcome.exit_code}, "
                     f"{console.duration(outcome.seconds)})")

    slot_envs = slots(gpus, max_parallel)
    record.data["launcher"] = {"mode": "local", "processes": len(slot_envs), "gpus": gpus or []}
    runner = LocalRunner(sweep_dir, slot_envs, started, ended)
    _, result["stopped"] = runner.run([Launch(p, args) for p, args in launches])


def _run_slurm(result: dict, record, sweep_dir: Path, config: str, points, launches, max_parallel, dry_run,
               argv) -> None:
    from xaicli.sweeps.slurm import submit, write_array

    todo = [p for p, _ in launches]
    record.data["launcher"] = {"mode": "slurm", "max_parallel": max_parallel}
    if not todo:
        console.info("nothing left to submit")
        return
    script = write_array(sweep_dir, record.data["name"], config, points, todo, max_parallel,
                         ["xai", *argv[1:]])
    result["script"] = str(script)
    if dry_run:
        console.info(f"wrote {script} ({len(todo)} array tasks); submit it with sbatch {script}")
        return
    result["job_id"] = submit(script)
    record.data["launcher"]["job_id"] = result["job_id"]
    for p in todo:
        record.point(p.index).update(state="submitted", detail=f"array job {result['job_id']}_{p.index}")
    console.info(f"submitted array job {result['job_id']} ({len(todo)} tasks): {script}")
