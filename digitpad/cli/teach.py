"""The ``digitpad teach`` command."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from .common import CliError, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, _claim, _install_sigint, _json_line, _one_line, _pct, _printable, _progress_bar, _restore_handler, resolve_model_path


def cmd_teach(args: argparse.Namespace) -> int:
    from ..core.learning.config import TeachConfig
    from ..core.nets.checkpoint import load_checkpoint

    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".safetensors":
        raise CliError(f"--out must end in .safetensors (got {_printable(out.name)}).")
    config = TeachConfig(device=args.device)
    if args.steps is not None:
        config.steps = args.steps
        config.validate()
    # a user's own state dict has its input scored on the MNIST teaching uses
    base = load_checkpoint(resolve_model_path(args.model), data_dir=args.data)
    with _claim(out, args.overwrite) as claim:  # before any work: a busy file is found now
        return _teach_into(args, out, claim, base, config)


def _teach_into(args, out: Path, claim, base, config) -> int:
    from ..core.data.samples import read_folder
    from ..core.learning.control import TrainControl
    from ..core.learning.events import BatchDone, Failed, Measured, Notice, Started, Stopped, Taught
    from ..core.learning.teach import run, taught_checkpoint
    from ..core.nets.checkpoint import save_checkpoint

    loaded = read_folder(args.samples)
    names = [str(s.path) for s in loaded.samples]
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else \
        (lambda *a: print(*a, flush=True))
    counts = loaded.counts()
    say(f"samples in {_printable(args.samples)}: {len(loaded.samples)} readable ("
        + ", ".join(f"{d}: {counts[d]}" for d in range(10)) + f"), {len(loaded.problems)} skipped")
    for line in loaded.problems.lines():
        say(f"  skipped: {_printable(line)}")
    if not loaded.samples:
        raise CliError(f"no readable samples in {args.samples}: put images in subfolders named "
                       "0 to 9 (SAMPLES_DIR/7/*.png for sevens).")

    result = None
    bar = None
    notices: list[str] = []
    control = TrainControl()
    gen = run(base, loaded.images, loaded.labels, config, data_dir=args.data, names=names,
              control=control)
    previous_handler = _install_sigint(control)
    refusal = None
    try:
        for ev in gen:
            if isinstance(ev, Notice):
                notices.append(ev.message)
                print(f"digitpad: warning: {_printable(ev.message)}", file=sys.stderr, flush=True)
            elif isinstance(ev, Started):
                refusal = claim.comparable(ev.val_data)
                if refusal:  # nothing this run makes could replace the file: do not teach
                    break
                say(f"teaching {_printable(base.name)} on {ev.device}: {ev.train_size} samples, "
                    f"{ev.test_size} held out to measure, {ev.config.steps} steps")
            elif isinstance(ev, Measured) and ev.when == "before":
                bar = _progress_bar(total=config.steps, unit="step", leave=False, desc="teaching")
            elif isinstance(ev, BatchDone):
                if bar is not None:
                    bar.update(ev.step - bar.n)
                    bar.set_postfix(loss=f"{ev.loss:.4f}", refresh=False)
            elif isinstance(ev, (Taught, Stopped, Failed)):
                result = ev
    finally:
        gen.close()
        if bar is not None:
            bar.close()
        _restore_handler(signal.SIGINT, previous_handler)
    if refusal:
        print(f"digitpad: error: {_one_line(Exception(refusal))}: nothing was taught and "
              f"{_printable(out)} was left unchanged (--overwrite replaces it anyway).",
              file=sys.stderr)
        return EXIT_ERROR
    if isinstance(result, Failed):
        print(f"digitpad: error: {_one_line(Exception(result.message))} Nothing was saved.",
              file=sys.stderr)
        return EXIT_ERROR
    if not isinstance(result, Taught):
        print("digitpad: stopped: nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    ckpt = taught_checkpoint(base, result)
    refusal = claim.refusal(ckpt.val_acc, result.val_data)
    if refusal:
        print(f"digitpad: error: {_one_line(Exception(refusal))}: {_printable(out)} was left "
              "unchanged (--overwrite replaces it anyway).", file=sys.stderr)
        return EXIT_ERROR
    save_checkpoint(claim.path, ckpt.arch, ckpt.state, ckpt.meta)
    rep = result.report
    if args.json:
        doc = {"samples_dir": str(args.samples), "out": str(out), "model": str(base.path),
               "name": ckpt.name, "readable": len(loaded.samples),
               "notices": notices, **rep.to_dict()}
        # files that could not be read, then readable ones with nothing drawn
        doc["skipped"] = [{"file": str(f), "reason": r} for f, r in [*loaded.problems, *rep.skipped]]
        doc["skipped_count"] = len(doc["skipped"])
        print(_json_line(doc))
        return EXIT_OK
    b, a = rep.before, rep.after
    print(f"{'':<22}{'before':>9}{'after':>9}")
    held = f"held-out samples ({b.held_out_n})"
    print(f"{held:<22}{_pct(b.held_out_acc):>9}{_pct(a.held_out_acc):>9}"
          + ("" if b.held_out_n else "   (too few samples to hold any out)"))
    for d in range(10):
        if rep.held_out_counts[d]:
            print(f"{'  digit ' + str(d) + ' (' + str(rep.held_out_counts[d]) + ')':<22}"
                  f"{_pct(b.held_out_per_digit[d]):>9}{_pct(a.held_out_per_digit[d]):>9}")
    mn = f"MNIST test ({b.mnist_n:,})" if b.mnist_n else "MNIST test"
    print(f"{mn:<22}{_pct(b.mnist_acc):>9}{_pct(a.mnist_acc):>9}"
          + ("" if b.mnist_n else "   (MNIST not found: forgetting not measured)"))
    print(f"saved \"{_printable(ckpt.name)}\" -> {_printable(out)}  ({rep.seconds:.1f} s, "
          f"{rep.steps} steps, {sum(rep.train_counts)} samples with {rep.replay})", flush=True)
    return EXIT_OK
