"""veRL reads our exported parquet and loads our ``compute_score`` (opt-in, own venv).

veRL pins an older transformers than the project, so this check runs veRL's own code in a
separate virtual environment (``.venv-verl`` at the repository root, or the folder named
by ``REGIONREASONER_VERL_VENV``). The venv installs only what veRL needs to import its
dataset and reward-loading code, with ``--no-deps``; torch, numpy, datasets, pyarrow,
Pillow, omegaconf, hydra and this package come from the project's environment through a
``.pth`` hook that appends its site-packages AFTER the venv's own, so the venv's pinned
transformers wins. It is skipped unless ``REGIONREASONER_TEST_VERL=1``::

    REGIONREASONER_TEST_VERL=1 .venv/bin/python -m pytest tests/integrations/test_verl_compat.py -s

What it checks, with veRL 0.9.1:

* ``verl.utils.dataset.rl_dataset.RLHFDataset`` reads ``export-train --format verl``
  output with the tiny model's processor (image placeholders, ``filter_overlong_prompts``
  counting image tokens through ``qwen_vl_utils``) and keeps every row;
* ``examples/verl/regionreasoner_grpo.yaml`` composes with veRL's Hydra defaults and
  every key it sets exists in veRL's ``ppo_trainer`` config;
* ``verl.trainer.ppo.reward.get_custom_reward_fn`` loads
  ``regionreasoner/integrations/verl.py:compute_score`` from that config (with its
  ``reward_kwargs``) and returns the same scores as the project's own call;
* ``examples/verl/run_grpo.sh`` composes through ``python -m verl.trainer.main_ppo``
  (Hydra's ``--cfg job`` prints the final config without starting Ray);
* dialogue-level GRPO: ``examples/verl/regionreasoner/dialogue.yaml`` composes on top of
  the recipe (``+regionreasoner=dialogue``; every key exists in veRL's schema),
  ``regionreasoner_dialogue_agent.yaml`` names a subclass of veRL's ``AgentLoopBase``,
  instantiated the way veRL's ``AgentLoopWorker`` does it, whose ``run`` plays a dialogue
  row of ``python -m regionreasoner.integrations.verl_dialogue`` against a scripted LLM
  server (veRL rollouts need a GPU server; everything else is
  veRL's own code: dataset, continuous-token builder with the tiny model's processor,
  masks): later questions cite the box the scripted policy answered, only generated
  tokens are in the loss mask; ``get_custom_reward_fn`` loads ``compute_dialogue_score``
  and scores the trajectory as the project does; ``run_dialogue_grpo.sh`` composes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.verl,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("REGIONREASONER_TEST_VERL") != "1",
        reason="opt-in: set REGIONREASONER_TEST_VERL=1 (builds .venv-verl with veRL 0.9.1)",
    ),
]

REPO = Path(__file__).resolve().parents[2]
VERL_VERSION = "0.9.1"
VERL_PACKAGES = (
    f"verl=={VERL_VERSION}",
    # veRL 0.9.1's own pins, and those of its pinned transformers
    "transformers>=5.5.3,<5.11,!=5.6.0",
    "tokenizers>=0.22.0,<=0.23.0",
    "huggingface-hub>=1.5.0,<2.0",
    "tensordict>=0.8.0,<=0.10.0,!=0.9.0",
    # what `import verl` (ray, tensordict) needs at import time
    "ray",
    "msgpack",
    "protobuf",
    "requests",
    "urllib3",
    "charset-normalizer",
    "jsonschema",
    "jsonschema-specifications",
    "referencing",
    "rpds-py",
    "attrs",
    "pyvers",
    "cloudpickle",
    "codetiming",
    # RLHFDataset's image handling
    "qwen-vl-utils",
    # the agent loop package (verl.experimental.agent_loop -> rollout router)
    "cachetools",
)
STAMP = ".regionreasoner-verl-packages.json"
PIP_TIMEOUT_S = 900

KEY_HELPERS = r"""
def leaves(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, prefix + (key,))
        else:
            yield prefix + (key,)

def exists(tree, path):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True
"""
"""`leaves`/`exists` of the checks: which keys of an example config veRL's schema lacks."""

CHECK_SCRIPT = (
    r"""
import json, sys
from pathlib import Path

import transformers
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.utils.dataset.rl_dataset import RLHFDataset

args = json.loads(sys.argv[1])
out = {"transformers": transformers.__version__}

processor = transformers.AutoProcessor.from_pretrained(args["model"])
data_config = OmegaConf.create({
    "prompt_key": "prompt", "image_key": "images", "max_prompt_length": 4096,
    "filter_overlong_prompts": True, "filter_overlong_prompts_workers": 1,
    "truncation": "error", "cache_dir": args["cache"], "return_raw_chat": True,
})
dataset = RLHFDataset(args["parquet"], processor.tokenizer, data_config, processor=processor)
out["rows_kept"] = len(dataset)
row = dataset[0]
content = row["raw_prompt"][0]["content"]
out["content_types"] = [part["type"] for part in content]
out["text_head"] = next(p["text"] for p in content if p["type"] == "text")[:40]
out["data_source"] = row["data_source"]
out["ground_truth"] = row["reward_model"]["ground_truth"]
info = row["extra_info"]
out["extra_info"] = {k: info[k] for k in ("problem", "dialogue_id", "turn_index")}
if info.get("frame") is not None:  # an export in a named frame
    out["extra_info"] |= {"frame": info["frame"], "image_wh": [int(v) for v in info["image_wh"]]}
tight = OmegaConf.merge(data_config, {"max_prompt_length": args["tight_limit"]})
tight_set = RLHFDataset(args["parquet"], processor.tokenizer, tight, processor=processor)
out["rows_kept_tight"] = len(tight_set)

with initialize_config_dir(config_dir=args["verl_config_dir"], version_base=None):
    defaults = OmegaConf.to_container(compose(config_name="ppo_trainer"), resolve=False)
with initialize_config_dir(config_dir=args["example_dir"], version_base=None):
    config = compose(
        config_name="regionreasoner_grpo",
        overrides=[f"reward.custom_reward_function.path={args['reward_file']}"],
    )
example = Path(args["example_dir"]) / "regionreasoner_grpo.yaml"
mine = OmegaConf.to_container(OmegaConf.load(example))

"""
    + KEY_HELPERS
    + r"""
out["unknown_keys"] = [
    ".".join(p) for p in leaves({k: v for k, v in mine.items() if k not in ("hydra", "defaults")})
    if not exists(defaults, p) and p[:3] != ("reward", "custom_reward_function", "reward_kwargs")
]
out["rollout_n"] = config.actor_rollout_ref.rollout.n
out["kl_loss_coef"] = config.actor_rollout_ref.actor.kl_loss_coef

reward_fn = get_custom_reward_fn(config)
scores = {}
for name, completion in args["completions"].items():
    scores[name] = reward_fn(
        data_source=row["data_source"], solution_str=completion,
        ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"],
    )
out["scores"] = scores
print("RESULT " + json.dumps(out))
"""
)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _ensure_venv(venv: Path) -> float:
    """Create or refresh the veRL venv; returns the seconds spent (0 when up to date)."""
    wanted = {"packages": list(VERL_PACKAGES), "base": sysconfig.get_paths()["purelib"]}
    stamp = venv / STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return 0.0
    start = time.perf_counter()
    if not _venv_python(venv).is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run(
        [
            str(_venv_python(venv)),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Append the project's site-packages after the venv's own (and run its .pth files, so
    # the editable install of regionreasoner resolves too).
    hook = f"import site; site.addsitedir({wanted['base']!r})\n"
    Path(site, "_regionreasoner_project_env.pth").write_text(hook)
    subprocess.run(
        [str(_venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", *VERL_PACKAGES],
        check=True,
        timeout=PIP_TIMEOUT_S,
    )  # fmt: skip
    stamp.write_text(json.dumps(wanted))
    return time.perf_counter() - start


@pytest.mark.parametrize("frame", [840, "rel1000"])
def test_verl_reads_our_parquet_and_loads_compute_score(
    synth_bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], frame: int | str
) -> None:
    from regionreasoner.integrations.export import export_train
    from regionreasoner.integrations.verl import compute_score
    from regionreasoner.micro.tiny import build_tiny_model

    venv = Path(os.environ.get("REGIONREASONER_VERL_VENV", REPO / ".venv-verl"))
    install_s = _ensure_venv(venv)

    parquet = tmp_path / "train-verl.parquet"
    result = export_train(synth_bench, parquet, "verl", frame=frame)
    model = build_tiny_model(tmp_path / "tiny", seed=0)

    import pyarrow.parquet as pq

    first = pq.read_table(parquet).slice(0, 1).to_pylist()[0]
    gt = first["reward_model"]["ground_truth"]
    perfect = f"<answer>{gt}</answer>"
    completions = {"perfect": perfect, "empty": ""}
    reward_file = Path(sys.modules[compute_score.__module__].__file__)
    args = {
        "model": str(model),
        "parquet": str(parquet),
        "cache": str(tmp_path / "verl-cache"),
        "tight_limit": 30,
        "verl_config_dir": str(
            Path(
                subprocess.run(
                    [str(_venv_python(venv)), "-c",
                     "import verl, os; print(os.path.dirname(verl.__file__))"],
                    check=True, capture_output=True, text=True,
                ).stdout.strip(),
                "trainer",
                "config",
            )
        ),
        "example_dir": str(REPO / "examples" / "verl"),
        "reward_file": str(reward_file),
        "completions": completions,
    }  # fmt: skip
    start = time.perf_counter()
    run = subprocess.run(
        [str(_venv_python(venv)), "-c", CHECK_SCRIPT, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=PIP_TIMEOUT_S,
    )
    check_s = time.perf_counter() - start
    assert run.returncode == 0, run.stderr[-4000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT ") :])
    with capsys.disabled():
        print(
            f"\nveRL {VERL_VERSION} venv: install {install_s:.1f} s (0 = reused), "
            f"check {check_s:.1f} s, transformers {out['transformers']}"
        )

    assert out["transformers"].startswith("5.")
    assert int(out["transformers"].split(".")[1]) < 11  # veRL's pin, not the project's
    assert out["rows_kept"] == result.samples  # every exported row survives veRL's filter
    assert out["rows_kept_tight"] == 0  # and the image tokens are counted against the limit
    assert out["content_types"][0] == "image"
    assert out["text_head"].startswith("Please find")
    assert out["ground_truth"] == gt
    assert out["extra_info"]["problem"] == first["extra_info"]["problem"]
    assert out["unknown_keys"] == []
    assert (out["rollout_n"], out["kl_loss_coef"]) == (8, 0.01)
    for name, completion in completions.items():
        expected = compute_score(first["data_source"], completion, gt, first["extra_info"])
        assert out["scores"][name] == pytest.approx(expected), name
    assert out["scores"]["perfect"]["accuracy"] > 0
    assert out["scores"]["empty"]["score"] == 0.0
    if frame != 840:  # veRL hands the reward the frame of the row: it is converted
        assert (out["extra_info"]["frame"], out["extra_info"]["image_wh"]) == (frame, [160, 120])
        return

    # run_grpo.sh composes with veRL's own entry point (Hydra `--cfg job`: print, no run)
    env = {**os.environ, "TRAIN_FILE": str(parquet), "PYTHON": str(_venv_python(venv))}
    dry = subprocess.run(
        ["bash", str(REPO / "examples" / "verl" / "run_grpo.sh"),
         "reward.custom_reward_function.reward_kwargs.profile=official", "--cfg", "job"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=PIP_TIMEOUT_S,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-4000:]
    composed = dry.stdout
    assert f"path: {reward_file}" in composed
    assert "profile: official" in composed  # later overrides win
    assert "adv_estimator: grpo" in composed


DIALOGUE_CHECK_SCRIPT = (
    r"""
import json, sys
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf
import transformers
from verl.experimental.agent_loop.agent_loop import (
    AgentLoopBase, AgentLoopOutput, DictConfigWrap, ToolListWrap,
)
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.workers.rollout.replica import TokenOutput

args = json.loads(sys.argv[1])
out = {}
with initialize_config_dir(config_dir=args["verl_config_dir"], version_base=None):
    defaults = OmegaConf.to_container(compose(config_name="ppo_trainer"), resolve=False)
with initialize_config_dir(config_dir=args["example_dir"], version_base=None):
    config = compose(
        config_name="regionreasoner_grpo",
        overrides=[
            "+regionreasoner=dialogue",
            f"reward.custom_reward_function.path={args['reward_file']}",
            f"actor_rollout_ref.rollout.agent.agent_loop_config_path={args['agent_config']}",
            f"actor_rollout_ref.model.path={args['model']}",
            f"data.train_files={args['parquet']}",
            "data.filter_overlong_prompts=false",
            f"+data.cache_dir={args['cache']}",
        ],
    )
mine = OmegaConf.to_container(OmegaConf.load(args["example_dir"] + "/regionreasoner/dialogue.yaml"))

"""
    + KEY_HELPERS
    + r"""
out["unknown_keys"] = [
    ".".join(p) for p in leaves({k: v for k, v in mine.items() if k not in ("hydra", "defaults")})
    if not exists(defaults, p) and p[:3] != ("reward", "custom_reward_function", "reward_kwargs")
]
out["default_agent_loop"] = config.actor_rollout_ref.rollout.agent.default_agent_loop
out["rollout_n"] = config.actor_rollout_ref.rollout.n  # inherited from regionreasoner_grpo.yaml

(entry,) = [e for e in OmegaConf.load(args["agent_config"]) if e.name == out["default_agent_loop"]]
cls = get_class(entry._target_)
out["is_agent_loop"] = issubclass(cls, AgentLoopBase)

processor = transformers.AutoProcessor.from_pretrained(args["model"])
tokenizer = processor.tokenizer
dataset = RLHFDataset(args["parquet"], tokenizer, config.data, processor=processor)
row = dataset[args["row"]]
answers = args["answers"]

class ScriptedServer:
    # veRL's LLM server answers from a GPU engine; here turn k answers answers[k]
    def __init__(self):
        self.prompts = []

    async def generate(self, request_id, prompt_ids, sampling_params, image_data=None, **kwargs):
        self.prompts.append(list(prompt_ids))
        text = answers[min(len(self.prompts) - 1, len(answers) - 1)]
        ids = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
        return TokenOutput(token_ids=ids, log_probs=None)

server = ScriptedServer()
agent = instantiate(
    config=entry,
    trainer_config=DictConfigWrap(config=config),
    server_manager=server,
    tokenizer=tokenizer,
    processor=processor,
    hf_model_type="qwen2_5_vl",
    dataset_cls=RLHFDataset,
    data_config=DictConfigWrap(config.data),
    tools=ToolListWrap([]),
)
kwargs = {k: v for k, v in row.items() if k != "dummy_tensor"}
result = agent.loop.run_until_complete(agent.run({"temperature": 1.0}, **kwargs))
out["is_output"] = isinstance(result, AgentLoopOutput)
mask = result.response_mask
ids = result.response_ids
out["calls"] = len(server.prompts)
out["grows"] = all(
    later[: len(earlier)] == earlier for earlier, later in zip(server.prompts, server.prompts[1:])
)
spans, current, value = [], [], None
for token, m in zip(ids, mask):
    if value is not None and m != value:
        spans.append((value, tokenizer.decode(current)))
        current = []
    value = m
    current.append(token)
if current:
    spans.append((value, tokenizer.decode(current)))
out["spans"] = spans
out["generated"] = sum(mask)
out["image_tokens_in_prompt"] = result.prompt_ids.count(processor.image_token_id)
out["turns"] = result.extra_fields["regionreasoner_turns"]
reward_fn = get_custom_reward_fn(config)
extra_info = {**row["extra_info"], **result.extra_fields}
out["reward"] = reward_fn(
    data_source=row["data_source"], solution_str=tokenizer.decode(ids, skip_special_tokens=True),
    ground_truth=row["reward_model"]["ground_truth"], extra_info=extra_info,
)
out["extra_info"] = {"regionreasoner_turns": result.extra_fields["regionreasoner_turns"]}
print("RESULT " + json.dumps(out))
"""
)


def _answer(turn: int) -> str:
    x = 100 + 20 * turn
    return (
        "<scene> shapes </scene><think> found it </think>"
        f'<answer>[{{"bbox_2d": [{x}, 70, {x + 110}, 140], "point_2d": [{x + 50}, 100]}}]</answer>'
    )


def test_verl_runs_the_dialogue_agent_loop_and_scores_the_trajectory(
    synth_bench: Path, tmp_path: Path
) -> None:
    import math

    from regionreasoner.data.io import read_dialogues
    from regionreasoner.integrations.verl_dialogue import (
        compute_dialogue_score,
        export_verl_dialogues,
        score_keys,
    )
    from regionreasoner.micro.tiny import build_tiny_model

    venv = Path(os.environ.get("REGIONREASONER_VERL_VENV", REPO / ".venv-verl"))
    _ensure_venv(venv)
    parquet = tmp_path / "dialogues.parquet"
    assert export_verl_dialogues(synth_bench, parquet) == len(read_dialogues(synth_bench))
    dialogues = read_dialogues(synth_bench)
    row = max(range(len(dialogues)), key=lambda i: len(dialogues[i].turns))  # the longest
    n_turns = len(dialogues[row].turns)
    assert n_turns >= 3
    reward_file = Path(sys.modules[compute_dialogue_score.__module__].__file__)
    verl_dir = subprocess.run(
        [str(_venv_python(venv)), "-c", "import verl, os; print(os.path.dirname(verl.__file__))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    args = {
        "model": str(build_tiny_model(tmp_path / "tiny", seed=0)),
        "parquet": str(parquet),
        "cache": str(tmp_path / "verl-cache"),
        "verl_config_dir": str(Path(verl_dir, "trainer", "config")),
        "example_dir": str(REPO / "examples" / "verl"),
        "agent_config": str(REPO / "examples" / "verl" / "regionreasoner_dialogue_agent.yaml"),
        "reward_file": str(reward_file),
        "row": row,
        "answers": [_answer(k) for k in range(n_turns)],
    }
    run = subprocess.run(
        [str(_venv_python(venv)), "-c", DIALOGUE_CHECK_SCRIPT, json.dumps(args)],
        capture_output=True, text=True, cwd=tmp_path, timeout=PIP_TIMEOUT_S,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT ") :])

    assert out["unknown_keys"] == []
    assert out["default_agent_loop"] == "regionreasoner_dialogue"
    assert out["rollout_n"] == 8
    assert out["is_agent_loop"] and out["is_output"]
    assert out["calls"] == n_turns  # one generation per turn
    assert out["grows"]  # one conversation: each turn's prompt extends the previous one
    assert out["image_tokens_in_prompt"] > 0
    generated = [text for mask, text in out["spans"] if mask == 1]
    context = [text for mask, text in out["spans"] if mask == 0]
    assert len(generated) == n_turns and len(context) == n_turns - 1
    for k, text in enumerate(generated):  # only the policy's tokens are in the loss mask
        assert _answer(k) in text
    dialogue = dialogues[row]
    for k, text in enumerate(context, start=1):
        turn = dialogue.turns[k]
        assert "Please find" in text  # the next turn's prompt, not a policy answer
        assert not any(_answer(j) in text for j in range(n_turns))
        if turn.refers_to is not None:  # cites the box the policy answered for refers_to
            x = 100 + 20 * turn.refers_to
            assert f"bbox=[{x},70,{x + 110},140]" in text
    turns = out["turns"]
    assert [t["round"] for t in turns] == list(range(1, n_turns + 1))
    assert all(t["reference_source"] in ("predicted", "none") for t in turns)
    expected = compute_dialogue_score("regiondial", "", "[]", out["extra_info"])
    assert sorted(out["reward"]) == sorted(score_keys())
    for key, value in expected.items():
        got = out["reward"][key]
        assert (math.isnan(value) and math.isnan(got)) or got == pytest.approx(value), key

    env = {**os.environ, "TRAIN_FILE": str(parquet), "PYTHON": str(_venv_python(venv))}
    dry = subprocess.run(
        ["bash", str(REPO / "examples" / "verl" / "run_dialogue_grpo.sh"),
         "reward.custom_reward_function.reward_kwargs.advantage=discounted", "--cfg", "job"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=PIP_TIMEOUT_S,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-4000:]
    assert f"path: {reward_file}" in dry.stdout
    assert "name: compute_dialogue_score" in dry.stdout
    assert "default_agent_loop: regionreasoner_dialogue" in dry.stdout
    assert "regionreasoner_dialogue_agent.yaml" in dry.stdout
    assert "advantage: discounted" in dry.stdout
