"""`python -m helpers COMMAND`: the command line over the same functions the notebooks call (run,
evaluate, zero-shot, params, report, notebooks, bench, gpu-check; handout and grade only in the
TA's repository). Mistakes a user can fix print one line and exit 2 (tracebacks with --debug)."""
from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback

from helpers import UserError


def _parser() -> argparse.ArgumentParser:
    from helpers.study.settings import PROFILES
    from helpers.study.runs import RUN_IDS

    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train one run (the ten of the assignment or the seven of notebook 06) and write its results file")
    run.add_argument("run_id", help=f"one of: {', '.join(RUN_IDS)}")
    run.add_argument("--profile", default="full", help=f"one of: {', '.join(PROFILES)} (default full)")
    run.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                     help="override a setting, e.g. --set epochs=3 --set lr=1e-3 (repeatable)")
    run.add_argument("--resume", action="store_true", help="continue from the last finished epoch's checkpoint")

    evaluate = commands.add_parser("evaluate", help="test accuracy of a run's saved weights in a fresh backbone")
    evaluate.add_argument("run_id")
    evaluate.add_argument("--profile", default="full")
    evaluate.add_argument("--weights", help="weights file or folder (default: the run's own under weights/<profile>/)")
    evaluate.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                          help="the run's method size if it differs, e.g. --set rank=4")

    zero = commands.add_parser("zero-shot", help="accuracy of the untrained backbone with the plain and the task-prefix template")
    zero.add_argument("--profile", default="full")
    zero.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                      help="a data setting, e.g. --set test_limit=2000")

    params = commands.add_parser("params", help="parameter counts of the seventeen runs on the t5-small architecture")
    params.add_argument("--json", action="store_true", help="print JSON instead of a table")
    params.add_argument("--model", action="append", metavar="NAME",
                        help="a known T5 checkpoint (t5-base, google/flan-t5-xl, ... or 'all') or a saved folder; "
                             "repeatable; built on the meta device, no download")

    report = commands.add_parser("report", help="build report/<profile>/report.pdf from the results files")
    report.add_argument("--profile", default="full")
    report.add_argument("--model", help="the runs of this model (default: the profile's own, t5-small on full)")

    notebooks = commands.add_parser("notebooks", help="execute the notebooks with papermill (make run-all)")
    notebooks.add_argument("--profile", default="full")
    notebooks.add_argument("--papermill-args", default="", help='extra parameters, e.g. "-p epochs 3"')
    notebooks.add_argument("--only", nargs="*", help="notebook names to run (default: all)")
    notebooks.add_argument("--model", help="any T5 checkpoint or saved folder (the notebooks' model parameter)")
    notebooks.add_argument("--jobs", type=int, default=1,
                           help="notebooks side by side, each on its share of the CPU cores (default 1; one GPU: keep 1)")

    _tool_commands(commands)
    if importlib.util.find_spec("helpers.teaching") is not None:   # the TA's repository; the student's has none
        _teaching_commands(commands)
    return parser



def _tool_commands(commands) -> None:
    """bench and gpu-check: what the study costs, measured or projected."""
    bench = commands.add_parser("bench", help="speed, memory and checkpoint size of the runs")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument("--model", default="t5-small", help="a known T5 shape or a saved folder (random weights)")
    bench.add_argument("--only", nargs="+", metavar="RUN_ID", help="these runs (and full_ft, the yardstick) only")
    bench.add_argument("--precision", default="auto", help="auto (bf16 on GPUs that compute it natively), bf16 or fp32")
    bench.add_argument("--projection", action="store_true",
                       help="print only the PROJECTED time per notebook on T4, L4, A100 and H100 (no measurement)")
    bench.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                       help="with --projection: settings to project, e.g. --set epochs=3 --set max_length=256")

    gpu = commands.add_parser("gpu-check", help="one prepared GPU check: short bf16 and fp32 fits, reload checks, "
                                                "peak memory, samples/s, then the bench (make gpu-check)")
    gpu.add_argument("--cpu-smoke", action="store_true", help="a reduced form for a CPU, in seconds (the test suite's)")


def _teaching_commands(commands) -> None:
    """handout and grade: the course kit's two commands."""
    handout = commands.add_parser("handout", help="write the student repository: notebooks with TODOs, helpers without solutions")
    handout.add_argument("--out", default="handout", help="an empty or new folder to write (default handout)")
    handout.add_argument("--solved", action="store_true", help="keep the solutions in place (to check the grader)")
    handout.add_argument("--repo-url", help="the published student repository's address, written into the notebooks' Colab cell")

    grade = commands.add_parser("grade", help="grade completed handout notebooks against the libraries")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="notebook files, a student's folder of them, or a folder of students' folders")
    grade.add_argument("--json", action="store_true", help="print JSON instead of a table")
    grade.add_argument("--time-limit", type=float, default=300, help="seconds per notebook (default 300)")   # grade.DEFAULT_TIME_LIMIT
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run students' code without bubblewrap's isolation (every table then says so)")
    grade.add_argument("--seed", type=int, help="draw the inputs from this seed (replays a grading); default: a fresh one")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UserError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NotImplementedError as error:
        if args.debug:
            raise
        # The student repository's helpers: the pieces the notebooks teach are blank there.
        where = traceback.extract_tb(error.__traceback__)[-1].name
        print(f"error: {where} is blank in this repository's helpers: write it in its notebook and run the "
              "notebook (the command line uses helpers' copy)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last finished epoch's checkpoint is kept; continue with --resume", file=sys.stderr)
        return 130


def _dispatch(args) -> int:
    if args.command == "run":
        from helpers.study.settings import parse_assignments, settings_for

        # Validate before importing the training stack (torch, transformers): a typo costs a second.
        settings = settings_for(args.run_id, args.profile, parse_assignments(args.overrides))
        from helpers.training.experiment import run_experiment
        run_experiment(args.run_id, settings, resume=args.resume)
        return 0
    if args.command == "evaluate":
        from pathlib import Path

        from helpers.study.settings import parse_assignments, settings_for
        from helpers.study.runs import get_run

        settings = settings_for(args.run_id, args.profile, parse_assignments(args.overrides))
        from helpers.methods.registry import weights_path
        from helpers.training.experiment import evaluate_weights

        path = Path(args.weights) if args.weights else weights_path(get_run(args.run_id), args.profile, settings.model)
        if path is None:
            raise UserError(f"{args.run_id} saves no separate weights (full fine-tuning); evaluate a method run")
        accuracy = evaluate_weights(args.run_id, settings, path)
        print(f"{args.run_id}: test accuracy {accuracy:.4f} from {path}")
        return 0
    if args.command == "zero-shot":
        from helpers.study.settings import parse_assignments, settings_for

        overrides = parse_assignments(args.overrides)
        settings_for("full_ft", args.profile, overrides)   # validated before the training stack loads
        from helpers.training.zero_shot import zero_shot
        zero_shot(args.profile, overrides)
        return 0
    if args.command == "params":
        from helpers.tools.params import main as params_main
        from helpers.models.shapes import KNOWN_T5

        models = list(KNOWN_T5) if args.model == ["all"] else args.model
        return params_main(as_json=args.json, models=models)
    if args.command == "report":
        from helpers.report.document import build_report
        build_report(args.profile, model=args.model)
        return 0
    if args.command == "notebooks":
        from helpers.notebook.runner import run_notebooks
        return run_notebooks(args.profile, args.papermill_args, args.only, model=args.model, jobs=args.jobs)
    return _dispatch_tools(args)


def _dispatch_tools(args) -> int:
    """The course kit's commands and the benchmarks."""
    if args.command == "handout":
        from helpers.teaching.student_repo import write_student_repo
        out = write_student_repo(args.out, solved=args.solved, repo_url=args.repo_url)
        print(f"student repository{' (solved)' if args.solved else ''} written to {out}")
        return 0
    if args.command == "grade":
        from helpers.teaching.grade import main as grade_main
        return grade_main(args.paths, as_json=args.json, time_limit=args.time_limit, sandboxed=not args.no_sandbox,
                          seed=args.seed)
    if args.command == "bench":
        from helpers.study.settings import check_precision, parse_assignments, settings_for

        check_precision(args.precision)
        if args.projection:
            overrides = parse_assignments(args.overrides)
            settings_for("full_ft", "full", overrides)   # a bad setting is refused in one line
            from helpers.tools.projection import format_projection
            print(format_projection(overrides))
            return 0
        from helpers.tools.bench import main as bench_main
        return bench_main(as_json=args.json, only=args.only, model=args.model, precision=args.precision)
    if args.command == "gpu-check":
        from helpers.tools.gpu_check import main as gpu_check_main
        return gpu_check_main(cpu_smoke=args.cpu_smoke)
    return 1
