"""Dialogue-level GRPO on veRL: an agent loop that plays a RegionDial dialogue, and its reward.

veRL 0.9.1 runs multi-turn rollouts through agent loops
(``verl.experimental.agent_loop``): ``AgentLoopBase.run`` returns ONE token sequence
per trajectory, the prompt followed by a response in which the model's own tokens have
``response_mask`` 1 and everything else (tool output, later user messages) 0. So on veRL
a dialogue trajectory is one conversation:

1. the first user message holds the image (in the model frame) and turn 1's prompt;
2. the model answers; the answer is parsed (the ``eval`` protocol's reader) and its first
   box becomes the reference of the turns that cite turn 1;
3. the next user message is the next turn's prompt, its ``{ref}`` written by the
   protocol in the model frame (``ask_turn``, exactly the text ``eval --reference
   predicted`` sends), appended to the conversation with mask 0; and so on.

:class:`RegionDialogueAgentLoop` does this (load it with
``actor_rollout_ref.rollout.agent.agent_loop_config_path`` pointing at
``examples/verl/regionreasoner_dialogue_agent.yaml``), and :func:`compute_dialogue_score`
(``reward.custom_reward_function``) scores every turn with the project's reward profiles
and returns the trajectory's return: the mean of the turn totals, or their discounted sum
``sum_t gamma^t r_t``.

What differs from the TRL trainer and from evaluation: turn ``t`` sees turns ``1..t-1``
(their questions and answers) in its context, where ``eval`` asks every turn on its own,
and GRPO's advantage is one number per trajectory (veRL puts the reward on the last
token), so there is no per-turn advantage. Both follow from veRL's one-sequence-per-
trajectory contract; ``docs/training.md`` ("Dialogue-level GRPO") discusses them.

This module imports veRL only when :class:`RegionDialogueAgentLoop` is first looked up
(``from regionreasoner.integrations.verl_dialogue import RegionDialogueAgentLoop``, as
Hydra does); the rest needs neither veRL nor torch.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from regionreasoner.data.io import read_dialogues, resolve_image_path
from regionreasoner.data.schema import Dialogue
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import get_protocol
from regionreasoner.dialogue.rollout import (
    ADVANTAGE_MODES,
    DialogueTrajectory,
    ScheduledReferencePolicy,
    TurnStep,
    open_model_image,
    turn_returns,
)
from regionreasoner.errors import ConfigError, DataFormatError, UserInputError
from regionreasoner.fileio import atomic_write
from regionreasoner.geometry.frames import Frame
from regionreasoner.integrations.export import (
    IMAGE_TOKEN,
    JPEG_QUALITY,
    VERL_ABILITY,
    VERL_DATA_SOURCE,
    target_solution_item,
)
from regionreasoner.rewards import COMPONENTS, DEFAULT_PROFILE, score_completion
from regionreasoner.rewards.frames import FRAME_KEY, IMAGE_WH_KEY, mapping_frame

AGENT_NAME = "regionreasoner_dialogue"
"""The agent loop's name (the ``agent_name`` column and ``default_agent_loop``)."""

TURNS_FIELD = "regionreasoner_turns"
"""Key of the agent loop's ``extra_fields`` (reaching the reward as ``extra_info``) that
holds every turn: its raw text, the question as asked, the ground truth, the round."""

MAX_ROUNDS = 7
"""Rounds with their own keys in the reward's result (RegionDial dialogues have 2 to 7):
veRL needs the same key set for every sample, so absent rounds are NaN."""

RETURN_MODES = tuple(m for m in ADVANTAGE_MODES if m != "per_turn")
"""Trajectory returns veRL can optimise (one reward per sequence)."""


# --------------------------------------------------------------------------- data


def verl_dialogue_rows(
    bench_path: str | os.PathLike[str],
    *,
    protocol: str = "paper",
    frame: str = "square840",
    prompt: str = "regionreasoner-train",
    images_root: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """One veRL dataset row per dialogue (the columns of ``export-train --format verl``
    plus ``agent_name``); turn 1's prompt is the row's prompt, the record rides in
    ``extra_info["dialogue"]``, the image is stored in the model frame.

    Raises:
        DataFormatError: unreadable records or images.
    """
    if not Path(bench_path).is_file():
        raise DataFormatError("benchmark file not found", path=str(bench_path))
    template, proto = get_prompt(prompt), get_protocol(protocol, frame=frame)
    rows = []
    for index, dialogue in enumerate(read_dialogues(bench_path)):
        path = resolve_image_path(dialogue, bench_path, images_root)
        image, model_frame = open_model_image(path, dialogue, proto, data_path=str(bench_path))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        first = dialogue.turns[0]
        rows.append(
            {
                "data_source": VERL_DATA_SOURCE,
                "prompt": [
                    {"role": "user", "content": IMAGE_TOKEN + template.render_user(first.question)}
                ],
                "images": [{"bytes": buffer.getvalue()}],
                "ability": VERL_ABILITY,
                "reward_model": {
                    "style": "rule",
                    "ground_truth": json.dumps(
                        [target_solution_item(t, model_frame) for t in first.targets]
                    ),
                },
                "extra_info": {
                    "dialogue": json.dumps(dialogue.to_dict(), ensure_ascii=False),
                    FRAME_KEY: proto.frame_name,
                    IMAGE_WH_KEY: list(model_frame.image_wh),
                    "dialogue_id": dialogue.dialogue_id,
                    "index": index,
                    "split": "train",
                },
                "agent_name": AGENT_NAME,
            }
        )
    return rows


def export_verl_dialogues(
    bench_path: str | os.PathLike[str], out_path: str | os.PathLike[str], **kwargs: Any
) -> int:
    """Write :func:`verl_dialogue_rows` to one parquet file (atomically); returns the rows.

    Raises:
        DataFormatError: unreadable records or images.
    """
    from regionreasoner._imports import require

    pa = require("pyarrow", extra="trl")
    pq = require("pyarrow.parquet", extra="trl", package="pyarrow")
    rows = verl_dialogue_rows(bench_path, **kwargs)
    table = pa.Table.from_pylist(rows)
    with atomic_write(Path(out_path), "wb") as handle:
        pq.write_table(table, handle)
    return len(rows)


# --------------------------------------------------------------------------- session


def turn_record(step: TurnStep, frame: Frame, *, frame_name: str) -> dict[str, Any]:
    """What the reward needs of one turn (JSON-ready): its text, question and ground
    truth as written in the model frame ``frame`` (registered as ``frame_name``), and
    that frame with the image size, from which the reward converts them."""
    return {
        "round": step.round,
        "text": step.text,
        "problem": step.asked.question,
        "solution": json.dumps([target_solution_item(t, frame) for t in step.turn.targets]),
        "reference_source": step.asked.reference.source,
        "hit": bool(step.hit),
        FRAME_KEY: frame_name,
        IMAGE_WH_KEY: list(frame.image_wh),
    }


def start_session(
    extra_info: Mapping[str, Any],
    *,
    protocol: str = "paper",
    frame: str = "square840",
    p_ground_truth: float = 0.0,
    seed: int = 0,
    trajectory_id: str = "",
    max_turns: int | None = None,
) -> DialogueTrajectory:
    """A trajectory for the dialogue of a veRL row (``extra_info`` of
    :func:`verl_dialogue_rows`); its image is unused (veRL holds the pixels).

    Raises:
        DataFormatError: a row without its dialogue record, or one exported in another
            frame than ``frame`` (its image is stored as that frame shows it).
    """
    raw = extra_info.get("dialogue")
    if not isinstance(raw, str):
        raise DataFormatError("extra_info.dialogue is missing", field="extra_info.dialogue")
    dialogue = Dialogue.from_dict(json.loads(raw))
    exported = extra_info.get(FRAME_KEY)
    if exported is not None and exported != frame:
        raise DataFormatError(
            f"the row was exported in frame {exported!r} but the agent loop plays frame "
            f"{frame!r}: set the agent loop's frame to {exported!r} or export again",
            record=dialogue.dialogue_id,
            field=f"extra_info.{FRAME_KEY}",
        )
    image_wh = tuple(int(v) for v in extra_info.get("image_wh") or dialogue.image_wh or ())
    if len(image_wh) != 2:
        raise DataFormatError(
            "extra_info.image_wh is missing", record=dialogue.dialogue_id, field="image_wh"
        )
    model_frame = get_protocol(protocol, frame=frame).frame(image_wh)  # type: ignore[arg-type]
    rng = random.Random(f"{seed}:{dialogue.dialogue_id}:{trajectory_id}")
    policy = ScheduledReferencePolicy(p_ground_truth, rng)
    return DialogueTrajectory(dialogue, None, model_frame, policy, max_turns)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- reward


def score_keys(max_rounds: int = MAX_ROUNDS) -> tuple[str, ...]:
    """Keys of every :func:`compute_dialogue_score` result."""
    per_round = [f"round{r}/{k}" for r in range(1, max_rounds + 1) for k in ("total", "acc@0.5")]
    return ("score", *COMPONENTS, "total", "acc@0.5", "turns", *per_round)


def compute_dialogue_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
    alpha: float = 1.0,
    beta: float = 1.0,
    advantage: str = "mean",
    gamma: float = 1.0,
    max_rounds: int = MAX_ROUNDS,
    **_: Any,
) -> dict[str, float]:
    """Score a dialogue trajectory for veRL (``reward.custom_reward_function``).

    Every turn in ``extra_info["regionreasoner_turns"]`` (written by
    :class:`RegionDialogueAgentLoop`) is scored with the profile on its own text, its
    question as asked and its ground truth, rewritten from the turn's ``frame`` into the
    840x840 reward frame (:mod:`regionreasoner.rewards.frames`; a turn without a frame
    is scored as written). ``score`` is the trajectory's return: the
    mean of the turn totals (``mean``) or ``sum_t gamma^t r_t`` (``discounted``, the
    return from turn 1). The other keys are logged: the components and the total
    averaged over the turns, acc@0.5 over the turns, the number of turns, and per round
    the total and acc@0.5 (NaN for rounds the dialogue does not have).

    Raises:
        ConfigError: ``advantage`` is not ``mean`` or ``discounted``.
        DataFormatError: no turns in ``extra_info`` (not a dialogue trajectory).
    """
    if advantage not in RETURN_MODES:
        raise ConfigError(
            f"advantage {advantage!r}: veRL optimises one reward per trajectory; choose "
            f"from {list(RETURN_MODES)}"
        )
    turns = (extra_info or {}).get(TURNS_FIELD)
    if not turns:
        raise DataFormatError(
            f"extra_info.{TURNS_FIELD} is empty: score dialogues rolled out by the "
            f"{AGENT_NAME} agent loop",
            field=TURNS_FIELD,
        )
    turns = sorted(turns, key=lambda t: int(t["round"]))
    breakdowns = [
        score_completion(
            str(t["text"]),
            problem=t["problem"],
            solution=t["solution"],
            profile=profile,
            alpha=alpha,
            beta=beta,
            frame=mapping_frame(t, where=f"round {t['round']}"),
        )
        for t in turns
    ]
    totals = [b.total for b in breakdowns]
    returns = turn_returns(totals, advantage, gamma)
    out: dict[str, float] = {"score": float(returns[0])}
    for key in (*COMPONENTS, "total"):
        out[key] = float(sum(getattr(b, key) for b in breakdowns) / len(breakdowns))
    out["acc@0.5"] = float(sum(bool(t["hit"]) for t in turns) / len(turns))
    out["turns"] = float(len(turns))
    by_round = {
        int(t["round"]): (total, bool(t["hit"])) for t, total in zip(turns, totals, strict=True)
    }
    for r in range(1, max_rounds + 1):
        total, hit = by_round.get(r, (math.nan, None))
        out[f"round{r}/total"] = float(total)
        out[f"round{r}/acc@0.5"] = math.nan if hit is None else float(hit)
    return out


# --------------------------------------------------------------------------- agent loop


def _build_agent_loop_class() -> type:
    """``RegionDialogueAgentLoop``, subclassing veRL's ``AgentLoopBase`` (imported now)."""
    from uuid import uuid4

    from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput

    from regionreasoner.dialogue.rollout import GeneratedTurn

    class RegionDialogueAgentLoop(AgentLoopBase):  # type: ignore[misc,valid-type]
        """Plays a RegionDial dialogue as one veRL trajectory (see the module docstring).

        Keyword arguments (from the agent loop config next to ``_target_``):
            protocol: an ``eval --protocol`` (default ``paper``).
            frame: an ``eval --frame`` (default ``square840``; the exported images).
            prompt: the prompt template (default ``regionreasoner-train``).
            p_ground_truth: probability that a later turn cites the ground truth instead
                of the policy's own box (constant: an agent loop does not see the step).
            seed: seeds the reference draws (with the dialogue and a per-trajectory id).
            max_turns: play at most this many turns.
        """

        def __init__(
            self,
            *args: Any,
            protocol: str = "paper",
            frame: str = "square840",
            prompt: str = "regionreasoner-train",
            p_ground_truth: float = 0.0,
            seed: int = 0,
            max_turns: int | None = None,
            **kwargs: Any,
        ) -> None:
            kwargs.pop("tools", None)
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)
            self.protocol_name, self.frame_name = protocol, frame
            self.protocol = get_protocol(protocol, frame=frame)
            self.prompt = get_prompt(prompt)
            self.p_ground_truth = float(p_ground_truth)
            self.seed = int(seed)
            self.max_turns = max_turns
            self.response_length = self.rollout_config.response_length

        async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
            """One trajectory: generate, read the box, ask the next turn, until the last."""
            messages = list(kwargs["raw_prompt"])
            request_id = uuid4().hex
            session = start_session(
                kwargs.get("extra_info") or {},
                protocol=self.protocol_name,
                frame=self.frame_name,
                p_ground_truth=self.p_ground_truth,
                seed=self.seed,
                trajectory_id=request_id,
                max_turns=self.max_turns,
            )
            multi_modal_data = await self.process_multi_modal_info(messages)
            images = multi_modal_data.get("images")
            self._assert_mm_supported(bool(multi_modal_data))
            runtime_ids = await self.ct_build_initial_tokens(messages, images=images)
            response_mask: list[int] = []
            logprobs: list[float] | None = None
            metrics: dict[str, Any] = {}
            request = session.next_request(protocol=self.protocol, prompt=self.prompt)
            while True:
                output = await self.server_manager.generate(
                    request_id=request_id,
                    prompt_ids=runtime_ids,
                    sampling_params=sampling_params,
                    image_data=images,
                )
                merged, response_mask, logprobs = await self.ct_merge_assistant_token(
                    runtime_ids,
                    list(output.token_ids),
                    response_mask,
                    logprobs if (logprobs or output.log_probs) else None,
                    assistant_logprobs=output.log_probs or None,
                )
                runtime_ids = merged.token_ids
                text = self.tokenizer.decode(output.token_ids, skip_special_tokens=True)
                session.record(
                    request, GeneratedTurn(text), protocol=self.protocol, prompt=self.prompt
                )
                if session.done or len(response_mask) >= self.response_length:
                    break
                request = session.next_request(protocol=self.protocol, prompt=self.prompt)
                # as veRL's tool loop: the answer joins the history, then the new message
                # is merged in (mask 0) against that history
                messages.append({"role": "assistant", "content": text})
                previous = list(messages)
                messages.append({"role": "user", "content": request.asked.user_text})
                merged, response_mask, logprobs = await self.ct_merge_context_msg(
                    previous, messages, runtime_ids, response_mask, logprobs
                )
                if len(response_mask) >= self.response_length:
                    break
                runtime_ids = merged.token_ids
            response_ids = runtime_ids[len(runtime_ids) - len(response_mask) :]
            prompt_ids = runtime_ids[: len(runtime_ids) - len(response_mask)]
            turns = [
                turn_record(step, session.frame, frame_name=self.frame_name)
                for step in session.steps
            ]
            return AgentLoopOutput(
                prompt_ids=prompt_ids,
                response_ids=response_ids[: self.response_length],
                response_mask=response_mask[: self.response_length],
                response_logprobs=logprobs[: self.response_length] if logprobs else None,
                multi_modal_data=multi_modal_data,
                num_turns=2 * len(session.steps),
                metrics=metrics,
                extra_fields={TURNS_FIELD: turns, "turn_scores": [], "tool_rewards": []},
            )

    RegionDialogueAgentLoop.__module__ = __name__
    RegionDialogueAgentLoop.__qualname__ = "RegionDialogueAgentLoop"
    return RegionDialogueAgentLoop


_AGENT_LOOP: type | None = None


def __getattr__(name: str) -> Any:
    # PEP 562: the class exists only once veRL is importable, so this module (and its
    # doctests) import without veRL; Hydra's `_target_` lookup lands here.
    global _AGENT_LOOP
    if name == "RegionDialogueAgentLoop":
        if _AGENT_LOOP is None:
            _AGENT_LOOP = _build_agent_loop_class()
        return _AGENT_LOOP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m regionreasoner.integrations.verl_dialogue BENCH.jsonl OUT.parquet``."""
    parser = argparse.ArgumentParser(
        prog="python -m regionreasoner.integrations.verl_dialogue",
        description="Export a RegionDial JSONL as veRL rows for the dialogue agent loop "
        "(one row per dialogue).",
    )
    parser.add_argument("bench", type=Path)
    parser.add_argument("out", type=Path, help="output parquet file")
    parser.add_argument("--images-root", type=Path)
    parser.add_argument("--frame", default="square840")
    args = parser.parse_args(argv)
    try:
        rows = export_verl_dialogues(
            args.bench, args.out, frame=args.frame, images_root=args.images_root
        )
    except UserInputError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    sys.stderr.write(f"wrote {rows} dialogues to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
