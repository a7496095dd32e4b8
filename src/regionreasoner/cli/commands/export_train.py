"""``regionreasoner export-train``: a RegionDial benchmark as an RL training set."""

from __future__ import annotations

import argparse
import sys

from regionreasoner.cli.commands.base import Command
from regionreasoner.cli.options import frame_names
from regionreasoner.cli.progress import tqdm_progress

FORMATS = ("trl", "verl", "easyr1")
"""Names registered in ``regionreasoner.integrations.export.EXPORT_FORMATS``."""


def _frame(text: str) -> int | str:
    """``--frame``: a square side in pixels (``448``) or a frame name (``rel1000``)."""
    return int(text) if text.strip().isdigit() else text.strip()


class ExportTrainCommand(Command):
    """Write one training sample per turn (GT references) for TRL, veRL or EasyR1."""

    name = "export-train"
    help = "export a RegionDial JSONL as an RL training set (trl, verl or easyr1)"
    description = """\
Export the RL training set as the paper builds it: one sample per turn; a turn that
cites an earlier turn gets that turn's GROUND-TRUTH box written bbox=[x1,y1,x2,y2] in
the model frame (a square --frame x --frame resize, 840 by default); the targets become
the solution JSON [{"bbox_2d": [...], "point_2d": [x, y]}] in the same frame (the point
is the mask pixel farthest from the mask border). Images are resized once (bilinear).

--frame NAME writes the samples in a registered frame instead: rel1000 keeps the
original images and writes references and solutions on the 0-1000 grid, rel1 as 0-1
floats, image in original pixels, native at the Qwen2.5-VL processor size. Every row
then names its frame and image size (trl: 'frame' and 'image_wh' columns; verl: in
extra_info; easyr1: packed into the ground truth), and the rewards of each framework
(TRL callables, veRL and EasyR1 compute_score) convert it into their 840x840 frame.
--frame square840 is the default square.

formats:
  trl      PATH is a folder: a datasets dataset (save_to_disk) with a conversational
           'prompt', an 'image' column and problem/solution/dialogue_id/turn_index/
           captions_json; load it with datasets.load_from_disk for TRL's GRPOTrainer
  verl     PATH is a .parquet file with data_source/prompt/images/ability/reward_model/
           extra_info (prompt text starts with <image>)
  easyr1   PATH is a .jsonl (or .json -> {"samples": [...]}) file, images in
           <PATH stem>_images/; 'solution' packs {"solution": [...], "problem": "..."}

examples:
  regionreasoner export-train data/synth/synth.jsonl --out data/train_trl --format trl
  regionreasoner export-train bench/refcocog.jsonl --out train.parquet --format verl \\
      --images-root coco/train2014
  regionreasoner export-train data/synth/synth.jsonl --out easyr1/train.jsonl --format easyr1 \\
      --frame 448
  regionreasoner export-train data/synth/synth.jsonl --out data/train_qwen3 --format trl \\
      --frame rel1000
  regionreasoner export-train data/synth/synth.jsonl --out train_qwen3.parquet --format verl \\
      --frame rel1000
"""
    order = 40

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("bench", metavar="BENCH.jsonl", help="RegionDial JSONL to export")
        parser.add_argument(
            "--out",
            required=True,
            metavar="PATH",
            help="dataset folder (trl), .parquet file (verl) or .jsonl/.json (easyr1)",
        )
        parser.add_argument(
            "--format", required=True, choices=FORMATS, dest="fmt", help="training framework layout"
        )
        parser.add_argument(
            "--frame",
            type=_frame,
            default=None,
            metavar="SIZE|NAME",
            help="side of the square model frame (default: the paper's 840), or a frame "
            f"name: {frame_names(auto=False)}",
        )
        parser.add_argument(
            "--images-root",
            metavar="DIR",
            default=None,
            help="folder the image paths are relative to (default: the benchmark's folder)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.geometry.frames import OFFICIAL_MODEL_SIZE
        from regionreasoner.integrations.export import export_train

        progress = tqdm_progress("export-train", "dialogue")
        frame = OFFICIAL_MODEL_SIZE if args.frame is None else args.frame
        result = export_train(
            args.bench,
            args.out,
            args.fmt,
            frame=frame,
            images_root=args.images_root,
            progress=progress,
        )
        print(
            f"wrote {result.samples} samples ({result.images} images, "
            f"{frame if isinstance(frame, str) else f'{frame}x{frame}'}) "
            f"as {result.format} to {result.path}",
            file=sys.stderr,
        )
        return 0


COMMAND = ExportTrainCommand()
