"""`python -m fraud_training <command>`: argparse front end of the pipeline.

Bad parameters end with one line naming the option and exit code 2 (argparse's
convention); failures while running end with one line and exit code 1.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from fraud_training.errors import PipelineError
from fraud_training.forest_defaults import BUNDLED_MAX_DEPTH, BUNDLED_MAX_FEATURES, BUNDLED_TREES
from fraud_training.paths import RepoPaths, repo_paths

if TYPE_CHECKING:  # imported lazily at run time, so that --help and usage errors stay fast
    from fraud_training.features import FeatureSpec
    from fraud_training.pipeline import DataConfig
    from fraud_training.simulate import SimulationConfig
    from fraud_training.train import ForestConfig

EXIT_FAILURE = 1
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


# --- argument types: each names what it wants; argparse prefixes the option name ---


def positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or a positive integer, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def probability_threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def iso_datetime(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an ISO-8601 date-time, got {text!r}") from None
    return text


def feature_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"must be comma-separated names, got {text!r}")
    return names


def model_name(text: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", text):
        raise argparse.ArgumentTypeError(f"must match [a-z0-9][a-z0-9._-]{{0,62}}, got {text!r}")
    return text


def model_version(text: str) -> str:
    if not 1 <= len(text) <= 128 or text.strip() != text:
        raise argparse.ArgumentTypeError("must be 1 to 128 characters without surrounding spaces")
    return text


# --- option groups shared by several commands ------------------------------------------


def add_simulation_options(
    parser: argparse.ArgumentParser,
    seed: bool = True,
    defaults: tuple[int, int, int, int] = (5_000, 10_000, 183, 0),
) -> None:
    customers, terminals, days, default_seed = defaults
    group = parser.add_argument_group("simulation (defaults: the handbook's dataset)")
    group.add_argument(
        "--customers", type=positive_int, default=customers, help=f"number of customers ({customers})"
    )
    group.add_argument(
        "--terminals", type=positive_int, default=terminals, help=f"number of terminals ({terminals})"
    )
    group.add_argument(
        "--days", type=positive_int, default=days, help=f"days simulated from 2018-04-01 ({days})"
    )
    if seed:
        group.add_argument(
            "--seed", type=non_negative_int, default=default_seed, help=f"random seed ({default_seed})"
        )


def add_seeds_option(parser: argparse.ArgumentParser, default: list[int], what: str) -> None:
    parser.add_argument(
        "--seeds",
        type=non_negative_int,
        nargs="+",
        default=default,
        help=f"simulator seeds {what} ({' '.join(map(str, default))})",
    )


def add_publish_options(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_argument_group("S3 / lakeFS target (credentials from the AWS_* variables)")
    group.add_argument("--endpoint", default=None, help="S3 endpoint URL (default: $AWS_ENDPOINT_URL)")
    group.add_argument("--repository", required=required, help="bucket (lakeFS repository)")
    group.add_argument("--ref", required=required, help="first key segment (lakeFS branch)")
    group.add_argument("--prefix", default="models", help="folder under the ref (models)")


def add_split_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("time split, anchored to the last simulated day")
    group.add_argument("--train-days", type=positive_int, default=28, help="training block (28)")
    group.add_argument("--delay-days", type=non_negative_int, default=7, help="gap before the test block (7)")
    group.add_argument("--test-days", type=positive_int, default=14, help="test block, the last days (14)")


def add_forest_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--trees", type=positive_int, default=BUNDLED_TREES, help=f"trees in the forest ({BUNDLED_TREES})"
    )
    group.add_argument(
        "--max-depth",
        type=positive_int,
        default=BUNDLED_MAX_DEPTH,
        help=f"maximum tree depth ({BUNDLED_MAX_DEPTH})",
    )


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("protocol and model")
    group.add_argument("--train-days", type=positive_int, default=28, help="training block (28)")
    add_forest_options(group)
    group.add_argument(
        "--feature-set",
        choices=("spec", "handbook"),
        default="spec",
        help="the bundled models' features (spec: the spec's but the ones they leave out) "
        "or the handbook's 15 (handbook)",
    )
    group.add_argument(
        "--periods",
        choices=("handbook", "later"),
        nargs="+",
        default=["handbook", "later"],
        help="the handbook week and/or the last two weeks (both)",
    )
    group.add_argument(
        "--tasks",
        choices=("binary", "multiclass"),
        nargs="+",
        default=["binary", "multiclass"],
        help="the models to train (both)",
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    add_forest_options(group)
    group.add_argument(
        "--threshold",
        type=probability_threshold,
        default=None,
        help="binary models: fraud when P(fraud) >= threshold, in (0, 1) (0.5)",
    )
    group.add_argument(
        "--model-version", type=model_version, default="2.1.0", help="manifest version (2.1.0)"
    )
    group.add_argument(
        "--created-at",
        type=iso_datetime,
        default=None,
        help="manifest created_at (default: SOURCE_DATE_EPOCH if set, else now)",
    )


# --- the parser -----------------------------------------------------------------------

EXAMPLES = """examples (training/README.md says more):
  training/run build-models                 # models/fraud-*.{onnx,json}, models/REPORT.md (< 10 min)
  training/run evaluate                     # handbook protocol retrained on seeds 1 2 3 -> REPORT.md
  training/run tune                         # model choice on the validation periods of seed 0
  training/run replay --out /tmp/replay     # events.jsonl + features.jsonl for the service's parity test
  training/run package my.onnx --task multiclass --legitimate-class legit
  training/run package my.onnx --task binary --features TX_AMOUNT,TERMINAL_ID_RISK_7DAY_WINDOW,...
  training/run package my.onnx --task binary --class-labels legit,fraud --legitimate-class legit
  training/run verify models/fraud-binary.json   # the service's checks, in Python
  training/run training-set /var/log/fraud --outcomes outcomes.csv --model fraud-binary --out set.csv
  training/run answers my.json --events events.jsonl --out /tmp/answers   # what the service must answer
  training/run test                         # pytest
  training/run <command> --help
"""


def build_parser(paths: RepoPaths) -> OneLineParser:
    parser = OneLineParser(
        prog="fraud_training",
        description="Card-fraud model pipeline: simulate, train, export to ONNX, verify, publish.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    simulate = commands.add_parser("simulate", help="write a simulated transactions CSV")
    add_simulation_options(simulate)
    simulate.add_argument("--out", type=Path, default=paths.data / "transactions.csv", help="CSV path")

    train = commands.add_parser("train", help="train and export one model with its manifest")
    train.add_argument("--task", choices=("binary", "multiclass"), required=True)
    add_simulation_options(train)
    add_split_options(train)
    add_model_options(train)
    train.add_argument("--element-type", choices=("float32", "float64"), default="float32")
    train.add_argument("--no-zipmap", action="store_true", help="probabilities as a tensor, not a ZipMap")
    train.add_argument("--file-stem", default=None, help="file name without .onnx (default: the model name)")
    train.add_argument("--out", type=Path, default=paths.data / "models", help="output folder")

    bundle = commands.add_parser(
        "build-models",
        help="build the bundled models, evaluate them on unseen seeds, write models/REPORT.md",
    )
    add_simulation_options(bundle)
    add_split_options(bundle)
    add_model_options(bundle)
    bundle.add_argument(
        "--eval-seeds",
        type=non_negative_int,
        nargs="*",
        default=[1, 2, 3],
        help="seeds the exported models are evaluated on, none to skip (1 2 3)",
    )
    bundle.add_argument("--out", type=Path, default=paths.models, help="output folder (models/)")

    evaluate = commands.add_parser(
        "evaluate",
        help="the handbook protocol and the later period, retrained per seed, mean and spread",
    )
    add_seeds_option(evaluate, [1, 2, 3], "to train and test on")
    add_simulation_options(evaluate, seed=False)
    add_protocol_options(evaluate)
    evaluate.add_argument(
        "--validation",
        action="store_true",
        help="use the validation periods (moved back by delay + test length) instead of the test periods",
    )
    evaluate.add_argument(
        "--out",
        type=Path,
        default=None,
        help="result JSON (models/evaluation/protocol.json, or validation.json)",
    )

    tune = commands.add_parser("tune", help="compare feature sets and depths on the validation periods")
    add_seeds_option(tune, [0], "to tune on")
    add_simulation_options(tune, seed=False)
    tune.add_argument("--train-days", type=positive_int, default=28, help="training block (28)")
    tune.add_argument("--out", type=Path, default=None, help="result JSON (models/evaluation/tuning.json)")

    report = commands.add_parser("report", help="render models/REPORT.md again from the written results")
    report.add_argument("--models", type=Path, default=paths.models, help="models folder (models/)")

    replay = commands.add_parser(
        "replay",
        help="write a simulated event stream and its offline features, for the service's parity test",
    )
    add_simulation_options(replay, defaults=(1_000, 2_000, 60, 99))
    replay.add_argument(
        "--outcome-delay-days", type=positive_int, default=7, help="outcomes known after (7) days"
    )
    replay.add_argument(
        "--corrections",
        type=float,
        default=0.0,
        help="share of transactions whose outcome is corrected later, sent as supersedes reports (0)",
    )
    replay.add_argument("--out", type=Path, required=True, help="output folder")

    package = commands.add_parser(
        "package",
        help="write (and optionally publish) a manifest for an ONNX classifier you exported",
    )
    package.add_argument("model", type=Path, help="the .onnx file")
    package.add_argument("--task", choices=("binary", "multiclass"), required=True)
    package.add_argument(
        "--features",
        type=feature_list,
        default=None,
        help="comma-separated spec feature names in input-column order (default: every spec feature)",
    )
    package.add_argument(
        "--legitimate-class",
        default=None,
        help="label of the legitimate class, as the model names it (default for integer labels: 0)",
    )
    package.add_argument(
        "--class-labels",
        type=feature_list,
        default=None,
        help="comma-separated labels for integer classes 0, 1, ... (default: the task's)",
    )
    package.add_argument(
        "--threshold",
        type=probability_threshold,
        default=None,
        help="binary models: fraud when P(fraud) >= threshold (0.5)",
    )
    package.add_argument(
        "--name", type=model_name, default=None, help="model name (fraud-binary / fraud-scenario)"
    )
    package.add_argument(
        "--model-version", type=model_version, default=None, help="manifest version (default: sha256 prefix)"
    )
    package.add_argument("--created-at", type=iso_datetime, default=None, help="manifest created_at")
    package.add_argument("--out", type=Path, default=None, help="output folder (default: the model's folder)")
    add_publish_options(package, required=False)

    fixtures = commands.add_parser("fixtures", help="build the small models the service's tests use")
    fixtures.add_argument("--out", type=Path, default=paths.fixtures, help="output folder")
    fixtures.add_argument("--created-at", type=iso_datetime, default=None, help="manifest created_at")

    examples = commands.add_parser(
        "byom-examples",
        help="export example third-party classifiers (skl2onnx, onnxmltools) and events, to try package on",
    )
    examples.add_argument("--out", type=Path, required=True, help="output folder")

    answers = commands.add_parser(
        "answers",
        help="what the service must answer for each transaction of an event stream, per packaged model",
    )
    answers.add_argument("manifests", nargs="+", type=Path, help="packaged manifest files")
    answers.add_argument(
        "--events", type=Path, required=True, help="events, one JSON object a line (the replay format)"
    )
    answers.add_argument(
        "--lateness-seconds",
        type=non_negative_int,
        default=86_400,
        help="the service's FRAUD_STATE_LATENESS_SECONDS (86400)",
    )
    answers.add_argument("--out", type=Path, required=True, help="output folder")

    acceptance = commands.add_parser(
        "acceptance-fixtures",
        help="build the shared accept/refuse vectors that verify and the service's loader both run",
    )
    acceptance.add_argument(
        "--out", type=Path, default=paths.acceptance, help="output folder (test/fixtures/acceptance)"
    )

    verify = commands.add_parser(
        "verify",
        help="check manifests as the service does: schema, sha256, features, classes, signature, samples",
    )
    verify.add_argument(
        "manifests", nargs="*", type=Path, help="manifest files (default: bundled + fixtures)"
    )
    verify.add_argument(
        "--task",
        choices=("binary", "multiclass"),
        default=None,
        help="the service's slot the models are for (default: whatever the manifest says)",
    )

    publish = commands.add_parser("publish", help="upload models and manifests to S3 / lakeFS / MinIO")
    add_publish_options(publish, required=True)
    publish.add_argument("manifests", nargs="+", type=Path, help="manifest files")

    training_set = commands.add_parser(
        "training-set",
        help="features as served, from the decision log, plus the outcomes settled by a cut-off",
    )
    training_set.add_argument(
        "logs", nargs="+", type=Path, help="decision log directories (FRAUD_DECISION_LOG_DIR) or files"
    )
    training_set.add_argument(
        "--outcomes",
        type=Path,
        required=True,
        help="CSV or JSON Lines: transaction_id, outcome, known_at (or known_at_seconds), supersedes",
    )
    training_set.add_argument("--model", type=model_name, required=True, help="model name, e.g. fraud-binary")
    training_set.add_argument(
        "--model-version", type=model_version, default=None, help="only this version (default: any)"
    )
    training_set.add_argument(
        "--as-of",
        type=iso_datetime,
        default=None,
        help="cut-off, ISO-8601 with a zone (default: the latest known_at of the outcomes)",
    )
    training_set.add_argument(
        "--label-delay-days",
        type=non_negative_int,
        default=7,
        help="only transactions at least this long before the cut-off: their outcomes are in (7)",
    )
    training_set.add_argument("--out", type=Path, required=True, help="output CSV")

    skew = commands.add_parser(
        "skew-check",
        help="a training-set CSV against the replayed period's offline features: features, labels, models",
    )
    skew.add_argument("training_set", type=Path, help="the CSV training-set wrote")
    skew.add_argument("--replay", type=Path, required=True, help="the replay folder the period came from")
    skew.add_argument("--seed", type=non_negative_int, default=0, help="the forests' random seed (0)")

    commands.add_parser("test", help="run the pytest suite (extra arguments go to pytest)")
    return parser


def parse(argv: Sequence[str], paths: RepoPaths) -> tuple[argparse.Namespace, list[str]]:
    parser = build_parser(paths)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    check_consistency(parser, args)
    return args, extra


def check_consistency(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Rules that involve several options."""
    if hasattr(args, "delay_days"):
        total = args.train_days + args.delay_days + args.test_days
        if total > args.days:
            parser.error(f"--train-days + --delay-days + --test-days = {total} exceeds --days {args.days}")
    if getattr(args, "task", None) == "multiclass" and args.threshold is not None:
        parser.error("--threshold applies to binary models only, not --task multiclass")
    if args.command == "package" and args.task == "multiclass" and args.threshold is not None:
        parser.error("--threshold applies to binary models only, not --task multiclass")
    if args.command == "package" and (args.repository is None) != (args.ref is None):
        parser.error("--repository and --ref go together (publishing needs both)")
    if args.command in ("publish", "package") and args.repository is not None:
        args.endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
        for option in ("repository", "ref"):
            if not getattr(args, option).strip("/"):
                parser.error(f"--{option} must not be empty")


# --- commands -------------------------------------------------------------------------


def run_simulate(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.simulate import simulate, write_csv

    started = time.perf_counter()
    simulation = simulate(_simulation_config(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(simulation.transactions, str(args.out))
    frame = simulation.transactions
    print(
        f"wrote {args.out}: {len(frame):,} transactions, fraud rate {frame['TX_FRAUD'].mean():.4%}, "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 0


def _simulation_config(args: argparse.Namespace) -> SimulationConfig:
    from fraud_training.simulate import SimulationConfig

    return SimulationConfig(
        n_customers=args.customers, n_terminals=args.terminals, n_days=args.days, seed=args.seed
    )


def _data_config(args: argparse.Namespace) -> DataConfig:
    from fraud_training.pipeline import DataConfig
    from fraud_training.split import TimeSplit

    return DataConfig(_simulation_config(args), TimeSplit(args.train_days, args.delay_days, args.test_days))


def _forest_config(args: argparse.Namespace) -> ForestConfig:
    from fraud_training.train import ForestConfig

    return ForestConfig(n_estimators=args.trees, max_depth=args.max_depth, max_features=BUNDLED_MAX_FEATURES)


def _spec_and_schema(paths: RepoPaths) -> tuple[FeatureSpec, dict[str, Any]]:
    from fraud_training.features import load_feature_spec
    from fraud_training.manifest import load_schema

    return load_feature_spec(paths.feature_spec), load_schema(paths.manifest_schema)


def run_train(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.export import ExportOptions
    from fraud_training.manifest import resolve_created_at
    from fraud_training.pipeline import ModelRequest, build_model, prepare_data
    from fraud_training.train import TASK_SPECS

    spec, schema = _spec_and_schema(paths)
    threshold = (0.5 if args.threshold is None else args.threshold) if args.task == "binary" else None
    request = ModelRequest(
        task=args.task,
        file_stem=args.file_stem or TASK_SPECS[args.task].model_name,
        version=args.model_version,
        forest=_forest_config(args),
        export=ExportOptions(args.element_type, zipmap=not args.no_zipmap),
        threshold=threshold,
    )
    built = build_model(
        prepare_data(_data_config(args), spec), request, resolve_created_at(args.created_at), schema, args.out
    )
    print(
        f"wrote {built.model_path} and {built.manifest_path} (ONNX max |diff| {built.parity_difference:.3g})"
    )
    return 0


def run_build_models(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.bundle import BundleConfig, build_bundle
    from fraud_training.manifest import resolve_created_at

    spec, schema = _spec_and_schema(paths)
    config = BundleConfig(
        data=_data_config(args),
        forest=_forest_config(args),
        version=args.model_version,
        threshold=0.5 if args.threshold is None else args.threshold,
        eval_seeds=tuple(args.eval_seeds),
    )
    result = build_bundle(config, spec, schema, args.out, resolve_created_at(args.created_at))
    for model in result.models:
        m = model.manifest["metrics"]
        timing = result.timings[model.request.name]["zipmap_removed"]
        print(
            f"{model.request.name} (seed {args.seed} test block): AUC {m['auc_roc']}, "
            f"AP {m['average_precision']}, CP@100 {m['card_precision_at_100']}, "
            f"recall {m['recall_by_scenario']}, {len(model.model_bytes):,} bytes, "
            f"{timing['median_us']:.0f} us per 1,000 rows (1 thread, no ZipMap)"
        )
    if result.served is not None:
        _print_summary("served files", result.served["summary"])
    return 0


def _print_summary(title: str, summary: dict[str, Any]) -> None:
    for key, stats in summary.items():
        figures = ", ".join(
            f"{metric} {s['mean']:.4f} ± {s['std']:.4f}"
            for metric, s in stats.items()
            if metric in ("auc_roc", "average_precision", "card_precision_at_100_handbook") and s.get("n")
        )
        print(f"{title} {key}: {figures}")


def _protocol_config(args: argparse.Namespace, seeds: list[int]) -> Any:
    from dataclasses import replace

    from fraud_training.evaluation import FOREST, HANDBOOK_FEATURES, ProtocolConfig
    from fraud_training.simulate import SimulationConfig

    simulation = SimulationConfig(n_customers=args.customers, n_terminals=args.terminals, n_days=args.days)
    return ProtocolConfig(
        seeds=tuple(seeds),
        simulation=simulation,
        train_days=args.train_days,
        forest=replace(
            FOREST,
            n_estimators=getattr(args, "trees", FOREST.n_estimators),
            max_depth=getattr(args, "max_depth", FOREST.max_depth),
        ),
        features=HANDBOOK_FEATURES if getattr(args, "feature_set", "spec") == "handbook" else None,
        periods=tuple(getattr(args, "periods", ("handbook", "later"))),
        tasks=tuple(getattr(args, "tasks", ("binary", "multiclass"))),
        validation=getattr(args, "validation", False),
    )


def _write_result(path: Path, value: object, models: Path) -> None:
    from fraud_training.bundle import write_json
    from fraud_training.report import write_report

    write_json(path, value)
    print(f"wrote {path}")
    if path.parent == models / "evaluation":
        print(f"wrote {write_report(models)}")


def run_evaluate(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.evaluation import evaluate_protocol
    from fraud_training.features import load_feature_spec

    spec = load_feature_spec(paths.feature_spec)
    config = _protocol_config(args, args.seeds)
    try:
        config.period(config.periods[0])
    except ValueError as error:
        raise PipelineError(str(error)) from error
    result = evaluate_protocol(config, spec)
    _print_summary("retrained per seed", result["summary"])
    name = "validation.json" if args.validation else "protocol.json"
    _write_result(args.out or paths.models / "evaluation" / name, result, paths.models)
    return 0


def run_tune(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.evaluation import default_candidates, tune
    from fraud_training.features import load_feature_spec

    spec = load_feature_spec(paths.feature_spec)
    result = tune(_protocol_config(args, args.seeds), spec, default_candidates(spec))
    _write_result(args.out or paths.models / "evaluation" / "tuning.json", result, paths.models)
    return 0


def run_report(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.report import write_report

    print(f"wrote {write_report(args.models)}")
    return 0


def run_replay(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.features import load_feature_spec
    from fraud_training.replay import simulated_corrections, write_replay
    from fraud_training.simulate import simulate

    spec = load_feature_spec(paths.feature_spec)
    started = time.perf_counter()
    config = _simulation_config(args)
    stream = simulate(config).transactions
    delay = args.outcome_delay_days * 86_400
    corrections = (
        simulated_corrections(stream, spec, args.corrections, delay, config.seed)
        if args.corrections
        else None
    )
    files = write_replay(
        stream,
        spec,
        args.out,
        delay,
        {
            "simulation": {
                "seed": config.seed,
                "n_customers": config.n_customers,
                "n_terminals": config.n_terminals,
                "n_days": config.n_days,
                "start_date": config.start_date,
                "corrected_share": args.corrections,
            }
        },
        corrections=corrections,
    )
    print(
        f"wrote {files.events} ({files.n_transactions:,} transactions, {files.n_outcomes:,} outcomes), "
        f"{files.features} and {files.meta} in {time.perf_counter() - started:.1f} s"
    )
    return 0


def run_package(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.manifest import resolve_created_at
    from fraud_training.package import PackageRequest, package_model

    spec, schema = _spec_and_schema(paths)
    request = PackageRequest(
        model_path=args.model,
        task=args.task,
        features=tuple(args.features) if args.features else None,
        legitimate_class=args.legitimate_class,
        class_labels=tuple(args.class_labels) if args.class_labels else None,
        threshold=args.threshold,
        name=args.name,
        version=args.model_version,
        created_at=resolve_created_at(args.created_at),
        out_dir=args.out,
    )
    packaged = package_model(request, spec, schema)
    print(
        f"wrote {packaged.manifest_path} for {packaged.model_path.name}: input {packaged.manifest['input']}, "
        f"classes {[c['label'] for c in packaged.manifest['classes']]}, legitimate "
        f"{packaged.manifest['legitimate_class']!r}; checked like the service (samples max |diff| "
        f"{packaged.max_sample_difference:.3g})"
    )
    if args.repository is not None:
        from fraud_training.publish import PublishTarget

        target = PublishTarget(args.endpoint, args.repository.strip("/"), args.ref, args.prefix)
        _publish(target, [packaged.verified])
    return 0


def _publish(target: Any, models: list[Any]) -> None:
    from fraud_training.publish import PublishError, make_client, publish_models

    try:
        client = make_client(target.endpoint)
    except ValueError as error:
        raise PublishError(f"cannot upload to {target.describe()}: {error}") from error
    for uploaded in publish_models(client, target, models):
        print(uploaded.line(target.repository))


def run_fixtures(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.fixtures import FIXTURE_CREATED_AT, build_fixtures
    from fraud_training.manifest import resolve_created_at

    spec, schema = _spec_and_schema(paths)
    pinned = args.created_at or (None if os.environ.get("SOURCE_DATE_EPOCH") else FIXTURE_CREATED_AT)
    for model in build_fixtures(spec, schema, args.out, resolve_created_at(pinned)):
        print(f"wrote {model.model_path} ({len(model.model_bytes):,} bytes) and {model.manifest_path.name}")
    return 0


def run_byom_examples(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.byom_examples import EXAMPLES, write_examples
    from fraud_training.features import load_feature_spec

    written = write_examples(load_feature_spec(paths.feature_spec), args.out)
    for path in written:
        print(f"wrote {path}")
    for example in EXAMPLES:
        options = " ".join(example.package_options)
        print(f"  training/run package {args.out / example.file} --task {example.task} {options}".rstrip())
    return 0


def run_answers(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.answers import write_answers
    from fraud_training.verify import verify_model

    spec, schema = _spec_and_schema(paths)
    models = [verify_model(path, schema, spec) for path in args.manifests]
    for path, count in write_answers(models, args.events, spec, args.out, args.lateness_seconds):
        print(f"wrote {path}: {count:,} transactions")
    return 0


def run_acceptance_fixtures(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.acceptance import build_acceptance
    from fraud_training.manifest import load_schema

    written = build_acceptance(args.out, load_schema(paths.manifest_schema))
    print(f"wrote {len(written)} files in {args.out}")
    return 0


def default_manifests(paths: RepoPaths) -> list[Path]:
    """The bundled models and this package's fixtures (not every JSON file in the
    fixtures folder: the service's tests may keep broken manifests there on purpose)."""
    from fraud_training.fixtures import FIXTURES

    bundled = [paths.models / "fraud-binary.json", paths.models / "fraud-scenario.json"]
    return bundled + [paths.fixtures / f"{fixture.stem}.json" for fixture in FIXTURES]


def run_verify(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.verify import verify_model

    spec, schema = _spec_and_schema(paths)
    for manifest_path in args.manifests or default_manifests(paths):
        model = verify_model(manifest_path, schema, spec, args.task)
        print(
            f"ok {manifest_path}: {model.manifest['name']} {model.manifest['version']}, "
            f"sha256 {model.manifest['sha256'][:12]}..., samples max |diff| {model.max_sample_difference:.3g}"
        )
    return 0


def run_publish(args: argparse.Namespace, paths: RepoPaths) -> int:
    from fraud_training.publish import PublishTarget
    from fraud_training.verify import verify_model

    spec, schema = _spec_and_schema(paths)
    models = [verify_model(path, schema, spec) for path in args.manifests]
    _publish(PublishTarget(args.endpoint, args.repository.strip("/"), args.ref, args.prefix), models)
    return 0


def run_training_set(args: argparse.Namespace, paths: RepoPaths) -> int:
    from datetime import timedelta

    from fraud_training.features import load_feature_spec
    from fraud_training.training_set import (
        TrainingSetError,
        build_training_set,
        log_files,
        parse_time,
        read_outcomes,
        read_records,
        served_features,
        write_training_set,
    )

    spec = load_feature_spec(paths.feature_spec)
    files = log_files(args.logs)
    served = served_features(
        (r for path in files for r in read_records(path)), args.model, args.model_version
    )
    reports = read_outcomes(args.outcomes, spec.epoch)
    if args.as_of is not None:
        as_of = parse_time(args.as_of)
    elif reports:
        as_of = max(report.known_at for report in reports)
    else:
        raise TrainingSetError(f"{args.outcomes} holds no outcome: give --as-of")
    result = build_training_set(served, reports, spec.names, as_of, timedelta(days=args.label_delay_days))
    write_training_set(result, args.out)
    frauds = sum(label for _, label in result.rows)
    print(
        f"wrote {args.out}: {len(result.rows):,} transactions ({frauds:,} fraud) of {args.model} "
        f"{', '.join(result.versions)}, {len(result.feature_names)} features, from {len(files)} log files; "
        f"settled: event time <= {result.settled_before.isoformat()} (cut-off {as_of.isoformat()} "
        f"- {args.label_delay_days} days); {result.unlabelled:,} of those without an outcome left out"
    )
    return 0


def run_skew_check(args: argparse.Namespace, _: RepoPaths) -> int:
    from fraud_training.skew import compare

    print(compare(args.training_set, args.replay, args.seed).as_json())
    return 0


def run_tests(extra: list[str], paths: RepoPaths) -> int:
    import pytest

    return int(pytest.main([str(paths.tests), *extra]))


COMMANDS: dict[str, Callable[[argparse.Namespace, RepoPaths], int]] = {
    "simulate": run_simulate,
    "train": run_train,
    "build-models": run_build_models,
    "evaluate": run_evaluate,
    "tune": run_tune,
    "report": run_report,
    "replay": run_replay,
    "package": run_package,
    "fixtures": run_fixtures,
    "acceptance-fixtures": run_acceptance_fixtures,
    "byom-examples": run_byom_examples,
    "answers": run_answers,
    "verify": run_verify,
    "publish": run_publish,
    "training-set": run_training_set,
    "skew-check": run_skew_check,
}


def main(argv: Sequence[str] | None = None) -> int:
    paths = repo_paths()
    args, extra = parse(sys.argv[1:] if argv is None else argv, paths)
    if args.command == "test":
        return run_tests(extra, paths)
    try:
        return COMMANDS[args.command](args, paths)
    except (PipelineError, FileNotFoundError) as error:
        print(f"fraud_training {args.command}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_FAILURE
