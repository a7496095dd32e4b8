"""Import hygiene: the reward stack never pulls in torch, transformers, trl, verl or
pycocotools (RLE masks are evaluation's business; geometry loads them lazily)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "trl", "verl", "vllm", "datasets", "pycocotools")

SCRIPT = """
import json, sys
import regionreasoner.rewards
import regionreasoner.integrations.verl
import regionreasoner.integrations.easyr1
import regionreasoner.integrations.trl_rewards
from regionreasoner.rewards import score_completion
gt = '[{"bbox_2d": [0, 0, 9, 9], "point_2d": [4, 4]}]'
for profile in ("paper", "official"):
    score_completion("<think>a dog</think>", problem="find bbox=[1,2,3,4]", solution=gt,
                     profile=profile)
heavy = HEAVY_NAMES
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


@pytest.mark.slow  # a fresh interpreter loading numpy, scipy and lemminflect: ~5 s here
def test_reward_modules_import_no_heavy_dependency():
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY_NAMES = {HEAVY!r}\n{SCRIPT}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
