"""Protocols: model frame, reference writing, GT fallback, answer reading, citations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from regionreasoner.data.schema import Dialogue, Target, Turn
from regionreasoner.dialogue.policy import get_reference_policy
from regionreasoner.dialogue.prompts import get_prompt
from regionreasoner.dialogue.protocols import (
    NO_REFERENCE,
    Reference,
    citation_flags,
    get_protocol,
)
from regionreasoner.errors import ConfigError, UnknownComponentError
from regionreasoner.geometry.frames import Frame
from regionreasoner.parsing import parse_response

PROMPT = get_prompt("regionreasoner")
FRAME_640 = Frame.square((640, 480))


def _dialogue() -> Dialogue:
    return Dialogue(
        dialogue_id="x",
        image="x.jpg",
        image_wh=(640, 480),
        turns=(
            Turn(0, "the dog", (Target((64.0, 48.0, 320.0, 240.0)),)),
            Turn(1, "the cat next to {ref}", (Target((10.5, 20.0, 30.0, 40.0)),), refers_to=0),
        ),
    )


def _answer(items: str, think: str = "ok") -> str:
    return f"<scene>a scene here</scene><think>{think}</think><answer>{items}</answer>"


class TestReferences:
    def test_paper_writes_predicted_box_in_model_frame(self) -> None:
        d = _dialogue()
        ref = get_protocol("paper").reference(
            d,
            d.turns[1],
            get_reference_policy("predicted"),
            {0: np.array([[64.0, 48.0, 320.0, 240.0]])},
            FRAME_640,
        )
        # 64 * 840/640 = 84, 48 * 840/480 = 84, 320 -> 420, 240 -> 420
        assert ref == Reference(
            (64.0, 48.0, 320.0, 240.0),
            (84.0, 84.0, 420.0, 420.0),
            "bbox=[84,84,420,420]",
            "predicted",
        )

    def test_paper_native_frame_converts_into_qwen_size(self) -> None:
        d = _dialogue()
        protocol = get_protocol("paper", frame="native")
        frame = protocol.frame((640, 480))
        assert frame.model_wh == (644, 476)  # 23 * 28, 17 * 28
        ref = protocol.reference(
            d,
            d.turns[1],
            get_reference_policy("predicted"),
            {0: np.array([[64.0, 48.0, 320.0, 240.0]])},
            frame,
        )
        # 64*644/640 = 64.4 -> 64; 48*476/480 = 47.6 -> 48; 322; 238
        assert ref.text == "bbox=[64,48,322,238]"

    def test_paper_missing_prediction_is_marked_missing_without_gt(self) -> None:
        d = _dialogue()
        ref = get_protocol("paper").reference(
            d, d.turns[1], get_reference_policy("predicted"), {0: np.zeros((0, 4))}, FRAME_640
        )
        assert ref.missing and ref.source == "none" and ref.text is None
        assert ref.image_xyxy is None
        assert d.turns[1].render_question(ref.text) == "the cat next to [missing]"

    def test_official_writes_image_pixels_as_str_list(self) -> None:
        d = _dialogue()
        ref = get_protocol("official").reference(
            d,
            d.turns[1],
            get_reference_policy("predicted"),
            {0: np.array([[47.0, 107.0, 303.0, 466.0], [0, 0, 1, 1]])},
            FRAME_640,
        )
        assert ref.text == "[47, 107, 303, 466]" and ref.source == "predicted"

    def test_official_falls_back_to_gt_of_referenced_turn(self) -> None:
        d = _dialogue()
        ref = get_protocol("official").reference(
            d, d.turns[1], get_reference_policy("predicted"), {0: np.zeros((0, 4))}, FRAME_640
        )
        assert ref.source == "fallback_gt" and not ref.missing
        assert ref.text == "[64, 48, 320, 240]"

    def test_oracle_policy_uses_gt_of_referenced_turn(self) -> None:
        d = _dialogue()
        ref = get_protocol("paper").reference(
            d,
            d.turns[1],
            get_reference_policy("oracle"),
            {0: np.array([[1.0, 1.0, 2.0, 2.0]])},
            FRAME_640,
        )
        assert ref.source == "ground_truth" and ref.text == "bbox=[84,84,420,420]"

    def test_turn_without_reference_gets_none(self) -> None:
        d = _dialogue()
        ref = get_protocol("paper").reference(
            d, d.turns[0], get_reference_policy("predicted"), {}, FRAME_640
        )
        assert ref is NO_REFERENCE and not ref.missing


class TestReadAnswer:
    def test_official_scales_with_released_rounding(self) -> None:
        text = _answer('[{"bbox_2d": [10, 11, 500, 701], "point_2d": [421, 300]}]')
        answer = get_protocol("official").read_answer(text, PROMPT, FRAME_640)
        # int(v * 640/840 + 0.5) and int(v * 480/840 + 0.5), computed by hand
        assert answer.pred_xyxy.tolist() == [[8, 6, 381, 401]]
        assert answer.pred_points.tolist() == [[321, 171]]
        assert answer.segment_regions.xyxy.tolist() == [[8, 6, 381, 401]]
        assert answer.format_ok

    def test_official_without_points_keeps_boxes_but_no_mask_prompt(self) -> None:
        text = _answer('[{"bbox_2d": [10, 11, 500, 701]}]')
        answer = get_protocol("official").read_answer(text, PROMPT, FRAME_640)
        assert answer.pred_xyxy.tolist() == [[8, 6, 381, 401]]
        assert np.isnan(answer.pred_points).all()
        assert answer.segment_regions.is_empty()
        assert "official_rejected" in [i.code for i in answer.issues]
        assert not answer.format_ok

    @pytest.mark.parametrize(
        "items",
        [
            '{"bbox_2d": [10, 11, 500, 701], "point_2d": [1, 2]}',  # an object, not a list
            '[{"bbox_2d": ["10", 11, 500, 701], "point_2d": [1, 2]}]',  # a string number
            '[{"bbox_2d": [10, 11, 500, 701], "point_2d": [1, 2]},]',  # trailing comma
        ],
    )
    def test_official_rejects_what_the_released_code_rejects(self, items: str) -> None:
        official = get_protocol("official").read_answer(_answer(items), PROMPT, FRAME_640)
        paper = get_protocol("paper").read_answer(_answer(items), PROMPT, FRAME_640)
        assert len(official.pred_xyxy) == 0 and official.issues
        assert len(paper.pred_xyxy) == 1  # the tolerant parser recovers it

    def test_paper_maps_back_without_rounding(self) -> None:
        text = _answer('[{"bbox_2d": [10, 11, 500, 701], "point_2d": [421, 300]}]')
        answer = get_protocol("paper").read_answer(text, PROMPT, FRAME_640)
        expected = [10 * 640 / 840, 11 * 480 / 840, 500 * 640 / 840, 701 * 480 / 840]
        np.testing.assert_allclose(answer.pred_xyxy, [expected])
        assert answer.format_ok and not answer.issues

    def test_unparseable_text_gives_no_boxes_and_issues(self) -> None:
        answer = get_protocol("paper").read_answer("I cannot see anything", PROMPT, FRAME_640)
        assert len(answer.pred_xyxy) == 0 and answer.issues and not answer.format_ok


REF = Reference(
    (1.0, 1.0, 2.0, 2.0), (84.0, 84.0, 420.0, 420.0), "bbox=[84,84,420,420]", "predicted"
)


@pytest.mark.parametrize(
    ("think", "expected"),
    [
        ("next to bbox=[84,84,420,420]", (True, False)),  # verbatim
        ("next to bbox=[85,83,421,419]", (True, False)),  # within 1 px
        ("next to bbox=[86,84,420,420]", (False, True)),  # 2 px off: another box
        ("next to [84, 84, 420, 420]", (True, False)),  # bare style still cites
        ("bbox=[84,84,420,420], target bbox=[1,2,3,4]", (True, True)),  # cites the answer too
        ("left of [1, 2, 3, 4]", (False, False)),  # bare non-reference: not a bbox citation
        ("no coordinates at all", (False, False)),
    ],
)
def test_citation_flags_table(think: str, expected: tuple[bool, bool]) -> None:
    parsed = parse_response(_answer("[]", think))
    assert citation_flags(parsed, REF) == expected


def test_citation_flags_are_null_without_reference() -> None:
    parsed = parse_response(_answer("[]", "bbox=[1,2,3,4]"))
    assert citation_flags(parsed, NO_REFERENCE) == (None, None)


def test_official_protocol_refuses_other_frames_and_sampling() -> None:
    with pytest.raises(ConfigError, match="square840"):
        get_protocol("official", frame="native")
    with pytest.raises(ConfigError, match="greedy"):
        get_protocol("official").check_decoding(greedy=False)
    get_protocol("paper").check_decoding(greedy=False)  # allowed


def test_unknown_protocol_and_frame_suggest_names() -> None:
    with pytest.raises(UnknownComponentError, match="official"):
        get_protocol("oficial")
    with pytest.raises(UnknownComponentError, match="native"):
        get_protocol("paper", frame="nativ")


def test_to_model_image_is_bilinear_resize_and_identity_when_same_size() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    protocol = get_protocol("paper")
    resized = protocol.to_model_image(image, Frame.square((64, 48)))
    expected = image.resize((840, 840), Image.Resampling.BILINEAR)
    assert resized.size == (840, 840)
    assert np.array_equal(np.asarray(resized), np.asarray(expected))
    assert protocol.to_model_image(image, Frame.identity((64, 48))) is image
