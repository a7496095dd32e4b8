"""``regionreasoner micro train|bundle``: the micro RegionReasoner's SFT stages and bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from regionreasoner.cli.argtypes import (
    int_at_least,
    non_negative_float,
    positive_float,
    positive_int,
)
from regionreasoner.cli.commands.base import Command, add_parser

DESCRIPTION = """\
The micro RegionReasoner: a few-million-parameter Qwen2.5-VL trained from scratch on CPU
on synthetic scenes (recipes/micro/run.sh runs every stage; docs/micro_reproduction.md is
the lab log). GRPO and the evaluation of its checkpoints use `regionreasoner train` and
`regionreasoner eval`; this command holds the two steps of its own:

actions:
  train    one resumable SFT stage (the supervised warm start)
  bundle   ship a trained checkpoint as the model `regionreasoner demo` loads

examples:
  regionreasoner build synth --out data/s1 --dialogues 3000 --seed 101 --max-turns 2
  regionreasoner build synth --out data/val --dialogues 30 --seed 997
  regionreasoner micro train --name sft1 --bench data/s1 --eval-bench data/val \\
      --out artifacts/micro/sft1 --steps 2000 --style direct --aux-weight 1 --resume
  regionreasoner micro bundle artifacts/micro/grpo
"""

TRAIN_DESCRIPTION = """\
Train the micro model for one SFT stage on a `build synth` folder: a plain PyTorch loop
that keeps the images in memory, renders four-tag targets from the ground truth (with
ground-truth references) and saves OUT/checkpoint, a Hugging Face folder that evaluation
(`--model hf:OUT/checkpoint`) and GRPO training (`regionreasoner train`) load. Without
--init the stage starts from a new micro model with seeded random weights.

Every --eval-every-s seconds the stage greedily decodes the first --eval-samples turns of
--eval-bench and appends a line to OUT/train_log.jsonl (loss, accuracy per turn kind,
random-object baseline, per-token NLL). OUT/train_state.pt holds the optimizer, the step,
the training clock and the probe weights (which never enter the HF checkpoint).
--resume continues from OUT/checkpoint when OUT/train_state.pt exists (a finished stage
returns at once); a fresh start otherwise.

examples:
  regionreasoner micro train --name sft1 --bench data/s1 --eval-bench data/val \\
      --out artifacts/micro/sft1 --steps 1404 --schedule-steps 2000 --lr 1e-3 \\
      --warmup 100 --style direct --aux-weight 1 --batch-size 8 --threads 2 --resume
  regionreasoner micro train --name sft2 --bench data/full --eval-bench data/val \\
      --out artifacts/micro/sft2 --init artifacts/micro/sft1/checkpoint --steps 2279 \\
      --coord-sigma 12 --prompts regionreasoner,regionreasoner-train --resume
"""

BUNDLE_DESCRIPTION = """\
Copy a trained micro checkpoint into the package (or into --dest) as a loadable
`hf:<path>` folder: config, tokenizer, processor, chat template and the weights, stored
in float16 by default (half the size; the config keeps float32, so the model loads and
computes in float32). Training state, optimizer and logs stay behind. The destination is
replaced only once the new bundle is complete.

examples:
  regionreasoner micro bundle artifacts/micro/grpo
  regionreasoner micro bundle artifacts/micro/sft12/checkpoint --dest /tmp/micro-model
"""


class MicroCommand(Command):
    """``micro train`` (one SFT stage) and ``micro bundle`` (ship a checkpoint)."""

    name = "micro"
    help = "train the micro RegionReasoner on CPU (SFT stages) and bundle it for `demo`"
    description = DESCRIPTION
    order = 75

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # standard library only: the choices, without loading the training code
        from regionreasoner.micro.options import BUNDLE_WEIGHT_DTYPES

        actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="micro_action")
        actions.required = True
        train = add_parser(
            actions,
            "train",
            "one resumable SFT stage of the micro model on a synth benchmark",
            TRAIN_DESCRIPTION,
        )
        _add_train_arguments(train)
        train.set_defaults(_micro=self._run_train)

        bundle = add_parser(
            actions,
            "bundle",
            "copy a trained checkpoint into the package (weights in float16)",
            BUNDLE_DESCRIPTION,
        )
        bundle.add_argument(
            "src",
            type=Path,
            metavar="SRC",
            help="checkpoint folder (config.json, model.safetensors)",
        )
        bundle.add_argument(
            "--dest",
            type=Path,
            default=None,
            metavar="DIR",
            help="where to write the bundle (default: the package's micro-model folder)",
        )
        bundle.add_argument(
            "--weights-dtype",
            choices=BUNDLE_WEIGHT_DTYPES,
            default=BUNDLE_WEIGHT_DTYPES[0],
            help=f"storage precision of the weights (default {BUNDLE_WEIGHT_DTYPES[0]})",
        )
        bundle.set_defaults(_micro=self._run_bundle)

    def run(self, args: argparse.Namespace) -> int:
        return int(args._micro(args))

    def _run_train(self, args: argparse.Namespace) -> int:
        from regionreasoner.errors import UserInputError
        from regionreasoner.micro.sft import CHECKPOINT_DIR, StageSpec, run_stage

        if args.init is not None and not (args.init / "config.json").is_file():
            raise UserInputError(f"--init {args.init}: not a model checkpoint (no config.json)")
        if args.init_probes is not None and not args.init_probes.is_file():
            raise UserInputError(f"--init-probes {args.init_probes}: no such file")
        spec = StageSpec(
            args.name,
            args.bench,
            args.steps,
            args.lr,
            warmup=args.warmup,
            schedule_steps=args.schedule_steps,
        )
        entry = run_stage(
            spec,
            out=args.out,
            init=args.init,
            eval_bench=args.eval_bench,
            seed=args.seed,
            batch_size=args.batch_size,
            threads=args.threads,
            resume=args.resume,
            eval_every_s=args.eval_every_s,
            checkpoint_every_s=args.checkpoint_every_s,
            eval_samples=args.eval_samples,
            prompt_names=args.prompts.split(","),
            style=args.style,
            aux_weight=args.aux_weight,
            coord_sigma=args.coord_sigma,
            device=args.device,
            probe_box=args.probe_box,
            query_probe=args.query_probe,
            pointer_weight=args.pointer_weight,
            text_first=args.text_first,
            init_probes=args.init_probes,
            coord_weight=args.coord_weight,
            attn_weight=args.attn_weight,
            exact_copies=args.exact_copies,
        )
        shown = {k: v for k, v in entry.items() if k.endswith(("/acc", "loss"))}
        print(f"{spec.name}: {spec.steps} steps; model in {args.out / CHECKPOINT_DIR}")
        for key in sorted(shown):
            print(f"  {key} = {shown[key]:.4g}")
        return 0

    def _run_bundle(self, args: argparse.Namespace) -> int:
        from regionreasoner.micro.model import bundle_micro

        print(bundle_micro(args.src, args.dest, args.weights_dtype))
        return 0


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from regionreasoner.micro.options import BOX_MODES, PROMPT_NAME, TARGET_STYLES

    data = parser.add_argument_group("data and output")
    data.add_argument(
        "--bench", type=Path, required=True, metavar="DIR", help="`build synth` output folder"
    )
    data.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="stage folder (checkpoint/, logs)"
    )
    data.add_argument("--name", default="sft", help="stage name in the log (default sft)")
    data.add_argument(
        "--init", type=Path, metavar="DIR", help="HF checkpoint to start from (default: new model)"
    )
    data.add_argument(
        "--resume", action="store_true", help="continue OUT's checkpoint if there is one"
    )
    data.add_argument(
        "--eval-bench", type=Path, metavar="DIR", help="held-out `build synth` folder"
    )
    data.add_argument(
        "--eval-samples",
        type=positive_int,
        default=64,
        metavar="N",
        help="held-out turns decoded at each evaluation (default 64)",
    )

    targets = parser.add_argument_group("targets")
    targets.add_argument(
        "--style",
        choices=TARGET_STYLES,
        default="enumerate",
        help="<scene>: enumerate lists every object with its box, caption writes the "
        "builder's caption, direct only counts the shapes (default enumerate)",
    )
    targets.add_argument(
        "--prompts",
        default=PROMPT_NAME,
        metavar="NAME[,NAME...]",
        help=f"comma-separated prompt names cycled over turns (default {PROMPT_NAME})",
    )
    targets.add_argument(
        "--text-first",
        action="store_true",
        help="switch an --init checkpoint made before the micro chat template to it "
        "(question before image); new models have it already",
    )

    losses = parser.add_argument_group("auxiliary losses (0 turns a loss off)")
    losses.add_argument(
        "--aux-weight",
        metavar="W",
        type=non_negative_float,
        default=0.0,
        help="weight of the dense visual-token probes (micro.probes)",
    )
    losses.add_argument(
        "--probe-box",
        choices=BOX_MODES,
        default="regression",
        help="box probe: regression (4 numbers after layer 2) or vocab (scores the integer "
        "tokens with the model's own embeddings after layer 3)",
    )
    losses.add_argument(
        "--query-probe",
        action="store_true",
        help="with --probe-box vocab: the last prompt token must hold the target's box "
        "after layer 3 (trains the question -> object lookup)",
    )
    losses.add_argument(
        "--pointer-weight",
        metavar="W",
        type=non_negative_float,
        default=0.0,
        help="weight of the pointer probe: a softmax over the visual tokens must find the "
        "target's cells (and the reference's); needs the question before the image",
    )
    losses.add_argument(
        "--attn-weight",
        metavar="W",
        type=non_negative_float,
        default=0.0,
        help="weight of the attention pointer: one head of the last layer must read the "
        "target's visual tokens where its box is predicted (eager attention)",
    )
    losses.add_argument(
        "--init-probes",
        type=Path,
        metavar="FILE",
        help="train_state.pt whose probe weights start this stage (others start fresh)",
    )
    losses.add_argument(
        "--coord-sigma",
        metavar="PX",
        type=non_negative_float,
        default=0.0,
        help="Gaussian soft targets of this width (pixels) on coordinate tokens; 0 = one-hot",
    )
    losses.add_argument(
        "--coord-weight",
        metavar="W",
        type=non_negative_float,
        default=1.0,
        help="with --coord-sigma: factor on the coordinate tokens' loss terms (default 1)",
    )
    losses.add_argument(
        "--exact-copies",
        action="store_true",
        help="with --coord-sigma: one-hot targets for coordinates that copy an earlier token "
        "(the cited reference, the answer repeating the think box)",
    )

    optim = parser.add_argument_group("optimisation")
    optim.add_argument(
        "--steps", type=positive_int, default=1000, metavar="N", help="steps (default 1000)"
    )
    optim.add_argument(
        "--schedule-steps",
        type=positive_int,
        metavar="N",
        help="length of the cosine lr schedule (default --steps; larger = stop early on it)",
    )
    optim.add_argument(
        "--lr", type=positive_float, default=1e-3, help="peak learning rate (default 1e-3)"
    )
    optim.add_argument(
        "--warmup",
        type=int_at_least(0),
        default=50,
        metavar="N",
        help="linear warm-up steps (default 50)",
    )
    optim.add_argument(
        "--batch-size", type=positive_int, default=16, metavar="N", help="(default 16)"
    )
    optim.add_argument(
        "--seed", type=int, default=0, help="seed of the new model's weights and the data order"
    )
    optim.add_argument(
        "--threads", type=positive_int, default=1, metavar="N", help="torch CPU threads (default 1)"
    )
    optim.add_argument(
        "--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...; default cpu)"
    )

    clock = parser.add_argument_group("evaluation and checkpoints (wall-clock seconds)")
    clock.add_argument(
        "--eval-every-s",
        metavar="S",
        type=non_negative_float,
        default=300.0,
        help="seconds between held-out evaluations (default 300; one also at the end)",
    )
    clock.add_argument(
        "--checkpoint-every-s",
        metavar="S",
        type=non_negative_float,
        default=300.0,
        help="seconds between checkpoints (default 300; one also at the end)",
    )


COMMAND = MicroCommand()
