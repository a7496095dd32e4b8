"""Prompt templates, looked up by name (``--prompt``).

* ``regionreasoner``: the four-tag prompt with the released INFERENCE wording (paper
  Table 8); the default for evaluation.
* ``regionreasoner-train``: the four-tag prompt with the released TRAINING wording
  (paper Table 7); used by ``export-train`` and ``train``.
* ``visionreasoner``: ``<think>``/``<answer>`` only, for VisionReasoner-style models.
* ``qwen-grounding``: Qwen2.5-VL's native grounding request (bare JSON boxes), as the
  released code prompts the Qwen baselines.
* ``qwen3-grounding``: Qwen3-VL's own grounding request (bare JSON ``bbox_2d`` boxes);
  Qwen3-VL answers it on its relative 0-1000 grid, so the preset names the ``rel1000``
  frame (:attr:`PromptTemplate.frame`).
* ``plain``: a minimal instruction asking for the JSON answer only.

The exact wording of the two RegionReasoner prompts is part of the released models'
interface (they were trained on it), so it is reproduced verbatim, including "bboxs".
"""

from __future__ import annotations

from dataclasses import dataclass

from regionreasoner.parsing.response import ParsedResponse, parse_response
from regionreasoner.registry import Registry

ANSWER_EXAMPLE = (
    '[{"bbox_2d": [10,100,200,210], "point_2d": [30,110]}, '
    '{"bbox_2d": [225,296,706,786], "point_2d": [302,410]}]'
)
"""The two-object answer example shown in the RegionReasoner prompts."""

_RELATIONS_HINT = (
    "If a reference bbox is provided (e.g., 'above/ below/ to the left of/ to the right of/ "
    "inside/ overlapping with/ touching bbox=[x1,y1,x2,y2]'), "
)
_STEP3 = (
    "3) In <think> </think>, reason over the whole image by combining the global scene and "
    "the reference bbox relation. Explicitly state which spatial relation from the question "
    "you apply (e.g., 'target is above the reference'), and use it to constrain the search "
    "over the scene to locate the target object(s). If multiple candidates exist, compare "
    "them and pick the closest match.\n"
    "4) In <answer> </answer>, output the bbox(es) and point(s) for the target object(s) in "
    "JSON.\n"
)

INFERENCE_TEMPLATE = (
    'Please find "{question}" with bboxs and points.\n'
    + _RELATIONS_HINT
    + "use it as spatial guidance only.\n\n"
    "1) In <scene> </scene>, give a concise global scene description.\n"
    "2) If a reference bbox exists, in <focus> </focus> describe ONLY what is visible inside "
    "that bbox (do not output the final answer or target label here).\n" + _STEP3 + "\nFormat:\n"
    "<scene> global scene description </scene>\n"
    "<focus> description of reference bbox content (if provided bbox=[x1,y1,x2,y2]) </focus>\n"
    "<think> reasoning that applies the spatial relation to the scene and narrows to the "
    "final target(s) </think>\n"
    "<answer>{answer}</answer>"
)

TRAINING_TEMPLATE = (
    'Please find "{question}" with bboxs and points.\n'
    + _RELATIONS_HINT
    + "use it as spatial guidance.\n\n"
    "1) In <scene> </scene>, give a concise global scene description.\n"
    "2) In <focus> </focus>, describe what is visible inside the reference bbox (if "
    "provided). (do not output the final answer or target label here).\n" + _STEP3 + "\nFormat:\n"
    "<scene> global description of the image here </scene>\n"
    "<focus> description of reference bbox content here </focus>\n"
    "<think> thinking process here </think>\n"
    "<answer>{answer}</answer>"
)

VISIONREASONER_TEMPLATE = (
    'Please find "{question}" with bboxs and points.\n'
    "Compare the difference between object(s) and find the most closely matched object(s).\n"
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> "
    "tags.\nOutput the bbox(es) and point(s) inside the interested object(s) in JSON format.\n"
    "i.e., <think> thinking process here </think>\n<answer>{answer}</answer>"
)

QWEN_GROUNDING_TEMPLATE = 'Locate "{question}", report the bboxes coordinates in JSON format.'

QWEN3_GROUNDING_TEMPLATE = (
    'Locate every object that matches the description "{question}" in the image. '
    "Report bbox coordinates in JSON format."
)
"""Qwen3-VL's referring-expression request (the wording of its grounding evaluation; it
does not name the coordinate scale: the model answers on its 0-1000 grid by default)."""

PLAIN_TEMPLATE = (
    'Find "{question}". Reply with JSON only: a list of objects '
    '[{{"bbox_2d": [x1, y1, x2, y2], "point_2d": [x, y]}}] in pixel coordinates.'
)


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A named prompt: user text template, question normalisation and answer parsing.

    Attributes:
        name: registry name.
        template: user text with ``{question}`` (and optionally ``{answer}``) slots.
        strip_chars: characters stripped from both ends of the lower-cased question.
        lowercase: whether the question is lower-cased (the released code does).
        required_tags: tags whose absence counts as a format issue.
        answer_from_text: read the answer JSON from the whole text when no ``<answer>``.
        system: optional system message (``None``: the chat template's default).
        frame: the frame (a ``--frame`` name) the answers to this prompt are written in
            when the model follows its family's convention, or ``None`` when that is the
            run's choice (the RegionReasoner prompts follow the frame of the references
            written into them).
    """

    name: str
    template: str
    strip_chars: str = '."?!'
    lowercase: bool = True
    required_tags: tuple[str, ...] = ("scene", "think", "answer")
    answer_from_text: bool = False
    system: str | None = None
    frame: str | None = None

    def normalize_question(self, question: str) -> str:
        """Lower-case and strip the question as the released code does."""
        text = question.lower() if self.lowercase else question
        return text.strip(self.strip_chars)

    def render_user(self, question: str) -> str:
        """The user message text for ``question`` (references already substituted)."""
        return self.template.format(
            question=self.normalize_question(question), answer=ANSWER_EXAMPLE
        )

    def parse(self, text: str) -> ParsedResponse:
        """Parse a response to this prompt."""
        return parse_response(
            text, required_tags=self.required_tags, answer_from_text=self.answer_from_text
        )


PROMPTS: Registry[PromptTemplate] = Registry("prompt")
PROMPTS.register("regionreasoner", PromptTemplate("regionreasoner", INFERENCE_TEMPLATE))
PROMPTS.register(
    "regionreasoner-train",
    PromptTemplate(
        "regionreasoner-train",
        TRAINING_TEMPLATE,
        strip_chars=".",
        system="You are a helpful assistant.",
    ),
)
PROMPTS.register(
    "visionreasoner",
    PromptTemplate("visionreasoner", VISIONREASONER_TEMPLATE, required_tags=("think", "answer")),
)
PROMPTS.register(
    "qwen-grounding",
    PromptTemplate(
        "qwen-grounding",
        QWEN_GROUNDING_TEMPLATE,
        lowercase=False,
        strip_chars="",
        required_tags=(),
        answer_from_text=True,
    ),
)
PROMPTS.register(
    "qwen3-grounding",
    PromptTemplate(
        "qwen3-grounding",
        QWEN3_GROUNDING_TEMPLATE,
        lowercase=False,
        strip_chars="",
        required_tags=(),
        answer_from_text=True,
        frame="rel1000",
    ),
)
PROMPTS.register(
    "plain", PromptTemplate("plain", PLAIN_TEMPLATE, required_tags=(), answer_from_text=True)
)


def get_prompt(name: str) -> PromptTemplate:
    """The prompt registered as ``name`` (raises ``UnknownComponentError`` otherwise)."""
    return PROMPTS.get(name)
