"""The wide fuzz run (issue 15): tests/fuzz's mutations with many more seeds, and every mutated
file put through the CLI in a child process as a person would run it.

    python scripts/fuzz_wide.py [--seeds N] [--cli N] [--jobs J] [--out report.json]

In-process (fast, thousands): model files, training states, images, zips, as in tests/fuzz.
Child processes (slow, ~2 s each for torch's import): ``info``, ``predict`` (plain and
--json), ``eval``, ``export --onnx``, ``train --resume`` with a mutated training state,
``teach`` with a mutated sample. Each outcome is one of: ok, clean (a DigitpadError, or
rc 1-2 with only ``digitpad:`` lines on stderr), or a finding: another exception, a crash
(a signal), a hang (over --timeout), a traceback, a stray warning, or --json output that is
not strict JSON. Findings are printed with the seed that reproduces them.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "fuzz")]

from fuzz_mutations import (step_from_state, FORMATS, mutate_bytes, mutate_image, mutate_safetensors,  # noqa: E402
                            mutate_zip, poison_tensor)

SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif",
          "WEBP": ".webp", "TIFF-F": ".tiff", "PNG-16": ".png", "PNG-P": ".png"}


def mutated_model(blob: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    kind = seed % 3
    return (mutate_safetensors(blob, rng, inner=("meta",)) if kind == 0 else
            poison_tensor(blob, rng) if kind == 1 else mutate_bytes(blob, rng))


def mutated_state(blob: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    kind = seed % 3
    return (mutate_safetensors(blob, rng, inner=("json",)) if kind == 0 else
            poison_tensor(blob, rng) if kind == 1 else mutate_bytes(blob, rng))


# --- in process --------------------------------------------------------------------------------

def in_process(kind: str, seed: int, fn) -> tuple[str, str]:
    from digitpad.core.io.files import DigitpadError

    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            fn()
            outcome, detail = "ok", ""
        except DigitpadError as exc:
            outcome, detail = "clean", str(exc)
        except Exception as exc:  # a finding
            outcome, detail = "exception", f"{type(exc).__name__}: {exc}"
    if caught and outcome != "exception":
        outcome, detail = "warning", "; ".join(f"{w.category.__name__}: {w.message}" for w in caught)
    return outcome, detail


def run_in_process(work: Path, seeds: int, state_blob: bytes, config) -> list[dict]:
    import numpy as np

    from digitpad.core.data.preprocess import load_image, preprocess
    from digitpad.core.data.samples import SampleStore
    from digitpad.core.learning.train_state import check_train_state, load_train_state
    from digitpad.core.nets.checkpoint import load_checkpoint, shipped_model_path
    from digitpad.core.reading.predict import Predictor

    found = []
    drawing = np.zeros((60, 60), np.uint8)
    drawing[10:50, 28:33] = 255
    models = {arch: Path(shipped_model_path(arch)).read_bytes() for arch in ("lenet", "dense", "digitnet")}

    def note(kind, seed, outcome, detail):
        found.append({"kind": kind, "seed": seed, "outcome": outcome, "detail": detail[:300]})
        if outcome not in ("ok", "clean"):  # at once: a long run stopped early still tells
            print(f"finding: {kind} seed {seed}: {outcome}: {detail[:200]}", flush=True)

    for seed in range(seeds):
        arch = ("lenet", "dense", "digitnet")[seed % 3]
        path = work / f"m{seed}.safetensors"
        path.write_bytes(mutated_model(models[arch], seed))
        note(f"model/{arch}", seed, *in_process("model", seed, lambda: Predictor.from_checkpoint(
            load_checkpoint(path)).predict(drawing)))
        path.unlink()

        spath = work / f"s{seed}.train-state.safetensors"
        spath.write_bytes(mutated_state(state_blob, seed))

        def resume():
            weights, opt_state, info = load_train_state(spath)
            check_train_state(spath, weights, opt_state, info, config, "lenet")
            if not step_from_state(config, weights, opt_state):
                raise AssertionError("accepted state gave non-finite weights")
        note("train-state", seed, *in_process("state", seed, resume))
        spath.unlink()

        fmt = FORMATS[seed % len(FORMATS)]
        ipath = work / f"i{seed}{SUFFIX[fmt]}"
        ipath.write_bytes(mutate_image(fmt, random.Random(seed)))
        note(f"image/{fmt}", seed, *in_process("image", seed, lambda: preprocess(
            load_image(ipath, max_side=64), keep_steps=False)))
        ipath.unlink()

        zpath = work / f"z{seed}.zip"
        zpath.write_bytes(mutate_zip(random.Random(seed)))
        store = work / "store"
        note("zip", seed, *in_process("zip", seed, lambda: SampleStore(store).import_from(zpath)))
        zpath.unlink()
        shutil.rmtree(store, ignore_errors=True)
    return found


# --- child processes ---------------------------------------------------------------------------

def judge(proc: subprocess.CompletedProcess | None, json_out: bool,
          chatty: bool = False) -> tuple[str, str]:
    """``chatty``: the command reports progress on stderr (teach --json), so only tracebacks
    count there."""
    if proc is None:
        return "hang", ""
    err = proc.stderr
    if proc.returncode < 0:
        return "crash", f"signal {-proc.returncode}"
    if "Traceback" in err or "unexpected error" in err:
        return "traceback", err.strip().splitlines()[-1][:300]
    stray = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("digitpad:")]
    if stray and not chatty:
        return "stray-stderr", stray[0][:300]
    if proc.returncode not in (0, 1, 2):
        return "exit-status", str(proc.returncode)
    if json_out:
        for line in proc.stdout.splitlines():
            try:
                json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            except ValueError as exc:
                return "bad-json", f"{exc}: {line[:200]}"
    return ("ok" if proc.returncode == 0 else "clean"), err.strip()[:200]


def cli(argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run([sys.executable, "-m", "digitpad", *argv], env=env, cwd=str(ROOT),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def cli_case(seed: int, work: Path, data: Path, trained: Path, timeout: float) -> list[dict]:
    from digitpad.core.learning.train_state import train_state_path
    from digitpad.core.nets.checkpoint import shipped_model_path

    case = work / f"c{seed}"
    case.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), DIGITPAD_HOME=str(case / "home"),
               QT_QPA_PLATFORM="offscreen")
    arch = ("lenet", "dense", "digitnet")[seed % 3]
    model = case / "m.safetensors"
    model.write_bytes(mutated_model(Path(shipped_model_path(arch)).read_bytes(), seed))
    fmt = FORMATS[seed % len(FORMATS)]
    image = case / f"i{SUFFIX[fmt]}"
    image.write_bytes(mutate_image(fmt, random.Random(seed)))
    samples = case / "samples"
    for d in range(10):
        (samples / str(d)).mkdir(parents=True)
        (samples / str(d) / f"s{SUFFIX[fmt]}").write_bytes(mutate_image(fmt, random.Random(seed * 10 + d)))
    resumed = case / "r.safetensors"
    shutil.copy(trained, resumed)
    train_state_path(resumed).write_bytes(
        mutated_state(train_state_path(trained).read_bytes(), seed))
    runs = {
        "info": (["info", str(model)], False),
        "predict": (["predict", "--model", str(model), str(image)], False),
        "predict-json": (["predict", "--json", "--model", str(model), str(image)], True),
        "eval-json": (["eval", str(model), "--json", "--data", str(data)], True),
        "export": (["export", str(model), "--onnx", str(case / "m.onnx")], False),
        "train-resume": (["train", "--resume", str(resumed), "--out", str(resumed), "--epochs",
                          "3", "--device", "cpu", "--data", str(data)], False),
        "teach": (["teach", str(samples), "--model", "lenet", "--out", str(case / "t.safetensors"),
                   "--steps", "3", "--device", "cpu", "--data", str(data), "--json"], True),
    }
    out = []
    for name, (argv, json_out) in runs.items():
        outcome, detail = judge(cli(argv, env, timeout), json_out, chatty=name == "teach")
        out.append({"kind": f"cli/{name}", "seed": seed, "outcome": outcome, "detail": detail})
    shutil.rmtree(case, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2000, help="in-process mutations of each kind")
    ap.add_argument("--cli", type=int, default=60, help="seeds run through the CLI")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds before a run is a hang (a loaded 2-core machine needs minutes)")
    ap.add_argument("--out", default=None, help="write every outcome as JSON here")
    args = ap.parse_args()

    from digitpad import cli as digitpad_cli
    from digitpad.core.data.mnist import write_mnist_folder
    from digitpad.core.learning.train_state import train_state_path
    from digitpad.core.learning.config import recipe_config
    from synthetic_digits import render_digits

    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="digitpad-fuzz-"))
    os.environ["DIGITPAD_HOME"] = str(work / "home")
    try:
        data = write_mnist_folder(work / "data", *render_digits(300, seed=1), *render_digits(100, seed=2))
        trained = work / "trained.safetensors"
        rc = digitpad_cli.main(["train", "--model", "lenet", "--epochs", "2", "--batch-size", "32",
                                "--device", "cpu", "--data", str(data), "--out", str(trained)])
        assert rc == 0, "the seed run did not train"
        config = recipe_config("fast", "lenet", epochs=3, batch_size=32, device="cpu")
        results = run_in_process(work, args.seeds, train_state_path(trained).read_bytes(), config)
        print(f"in-process: {len(results):,} mutations in {time.monotonic() - t0:.0f} s", flush=True)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for rows in pool.map(lambda s: cli_case(s, work, data, trained, args.timeout),
                                 range(args.cli)):
                results += rows
                for r in rows:
                    if r["outcome"] not in ("ok", "clean"):
                        print(f"finding: {r['kind']} seed {r['seed']}: {r['outcome']}: "
                              f"{r['detail'][:200]}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    counts = collections.Counter((r["kind"], r["outcome"]) for r in results)
    findings = [r for r in results if r["outcome"] not in ("ok", "clean")]
    print(f"{len(results):,} runs in {time.monotonic() - t0:.0f} s")
    for kind in sorted({k for k, _ in counts}):
        row = {o: n for (k, o), n in counts.items() if k == kind}
        print(f"  {kind:<22} " + ", ".join(f"{o} {n}" for o, n in sorted(row.items())))
    by_kind = collections.defaultdict(list)
    for r in findings:
        by_kind[(r["kind"], r["outcome"], r["detail"][:80])].append(r["seed"])
    if findings:
        print("findings (kind, outcome, first words: seeds):")
        for (kind, outcome, detail), seeds in sorted(by_kind.items()):
            print(f"  {kind} {outcome}: {detail} -- seeds {seeds[:8]}{' ...' if len(seeds) > 8 else ''}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
