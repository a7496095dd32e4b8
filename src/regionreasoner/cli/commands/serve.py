"""``regionreasoner serve``: a web page for interactive multi-round grounding."""

from __future__ import annotations

import argparse
import logging
import sys

from regionreasoner.cli.argtypes import int_at_least, positive_float
from regionreasoner.cli.commands.base import Command
from regionreasoner.cli.options import (
    add_engine_arguments,
    add_max_image_pixels_argument,
    engine_settings_kwargs,
)

DESCRIPTION = """\
Serve a web page (Gradio) over the same engine as `regionreasoner eval`: the same
prompts, answer parser, reference substitution and segmenters. Pick an example image
(a small synthetic benchmark is built on start) or upload one, ask a question, and the
answer is drawn on the image with a label per region (R1, R2, ...) beside the model's
<scene>, <focus> and <think> text. A later question may cite a region by its label
("the cup next to R1"): the app substitutes its box exactly as the evaluation protocol
does and shows what it substituted. Draw a box (two clicks on the image) to cite it as
U1. Boxes can be corrected in the region table, and the dialogue downloaded as a
RegionDial JSONL record (with a zip holding the image), so the page doubles as an
annotation tool. See docs/serve.md.

The page binds to 127.0.0.1 (this machine only) unless --host says otherwise. Stop it
with Ctrl-C.

Model specs (as for eval):
  hf:<path-or-id>                 transformers chat VLM (Qwen2.5-VL, ...)
  openai:<base_url>#<model>       OpenAI-compatible server (vLLM, SGLang)
  oracle                          answers the example images' own questions from their
                                  ground truth (tests, demos without a model)
Without --model, the micro RegionReasoner bundled with the package is served (an
installation without the bundled model needs --model).

examples:
  regionreasoner serve
  regionreasoner serve --model oracle
  regionreasoner serve --model hf:Qwen/Qwen2.5-VL-7B-Instruct --segmenter sam2 --device cuda
  regionreasoner serve --model "openai:http://localhost:8000/v1#lmsdss/RegionReasoner-7B" \\
      --protocol official --port 8080
  regionreasoner serve --model hf:Qwen/Qwen3-VL-8B-Instruct --prompt qwen3-grounding \\
      --frame rel1000

--frame names the frame the model answers in (as for eval); --frame auto runs the
frame probe on start and serves in the frame it names.
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 1..65535, got {value}")
    return value


class ServeCommand(Command):
    """Interactive grounding and annotation in the browser."""

    name = "serve"
    help = "web page for interactive multi-round grounding and dialogue annotation"
    description = DESCRIPTION
    order = 60

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        model = parser.add_argument_group("engine (as for eval)")
        add_engine_arguments(
            model,
            model_required=False,
            model_help="hf:PATH | openai:BASE_URL#MODEL | oracle (default: the bundled micro "
            "model)",
            segmenter_default="box-fill",  # ServeConfig's default (a test checks they agree)
            segmenter_help="box-fill (default: boxes filled as masks, no download), sam2[:HF_ID "
            "| :config=CFG,ckpt=PATH] (SAM2 masks), none",
        )

        page = parser.add_argument_group("page")
        page.add_argument(
            "--host",
            default="127.0.0.1",
            help="interface to bind (default 127.0.0.1: this machine only; 0.0.0.0: every "
            "interface, so anyone on the network can use the model)",
        )
        page.add_argument("--port", type=_port, default=7860, help="TCP port (default 7860)")
        page.add_argument(
            "--max-upload-mb",
            type=positive_float,
            default=10.0,
            metavar="MB",
            help="largest accepted image upload in megabytes (default 10)",
        )
        add_max_image_pixels_argument(page)
        page.add_argument(
            "--request-timeout",
            type=positive_float,
            default=300.0,
            metavar="SECONDS",
            help="seconds to wait for an answer before reporting a timeout (default 300); "
            "there are no retries: ask again",
        )
        page.add_argument(
            "--examples",
            type=int_at_least(0),
            default=8,
            metavar="N",
            help="synthetic example images built on start (default 8; 0: uploads only)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from regionreasoner.assets import bundled_model_spec
        from regionreasoner.errors import UserInputError
        from regionreasoner.serve.app import ServeConfig, create_app

        model = args.model or bundled_model_spec()
        if model is None:
            raise UserInputError(
                "--model is required (no model is bundled with this installation); e.g. "
                "--model oracle (example questions only), --model hf:PATH or "
                "--model openai:URL#MODEL"
            )
        config = ServeConfig(
            **engine_settings_kwargs(args),
            model=model,
            max_upload_mb=args.max_upload_mb,
            request_timeout_s=args.request_timeout,
            examples=args.examples,
        )
        # Gradio polls its own server through httpx; those requests are not worth a line.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        print(f"loading {model} (segmenter {args.segmenter}) ...", file=sys.stderr)
        if config.auto_frame:
            print("--frame auto: running the frame probe ...", file=sys.stderr)
        app = create_app(config)
        if config.auto_frame:
            frame = app.controller.engine.protocol.frame_name
            print(f"frame: {frame}, chosen by the frame probe", file=sys.stderr)
        try:
            print(f"serving on http://{args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
            app.launch(host=args.host, port=args.port, block=True, quiet=True)
        except OSError as e:
            app.close()
            raise UserInputError(
                f"cannot serve on {args.host}:{args.port} ({e}); choose another --port"
            ) from e
        return 0


COMMAND = ServeCommand()
