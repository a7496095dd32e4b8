"""The OpenAI-compatible backend against a local scripted server."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from fake_openai import FakeOpenAIServer, Reply
from regionreasoner.backends import BackendOptions, load_backend
from regionreasoner.backends import openai_compatible as oa
from regionreasoner.backends.base import GenerationRequest
from regionreasoner.backends.openai_compatible import OpenAICompatibleBackend, parse_openai_spec
from regionreasoner.cli.main import main
from regionreasoner.errors import ConfigError

pytest.importorskip("httpx")

FAST = {"retry_backoff_s": 0.01, "request_timeout_s": 2.0}


def _image(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (84, 84, 3), dtype=np.uint8))


def _backend(server: FakeOpenAIServer, **kwargs: object) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(server.base_url, "rr-7b", **{**FAST, **kwargs})


def test_payload_carries_model_text_image_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    image = _image()
    with FakeOpenAIServer(lambda n, body: Reply(content="<answer>[]</answer>")) as server:
        backend = _backend(server)
        out = backend.generate(
            [
                GenerationRequest(image, "find it", max_new_tokens=77),
                GenerationRequest(image, "again", system="be brief"),
            ]
        )
        backend.close()
    assert [g.text for g in out] == ["<answer>[]</answer>"] * 2 and not out[0].failed
    # concurrent requests may arrive in any order
    by_text = {b["messages"][-1]["content"][1]["text"]: b for b in server.bodies}
    first, second = by_text["find it"], by_text["again"]
    assert first["model"] == "rr-7b" and first["max_tokens"] == 77
    assert first["temperature"] == 0.0 and "seed" not in first
    assert [m["role"] for m in first["messages"]] == ["user"]
    assert [m["role"] for m in second["messages"]] == ["system", "user"]
    image_part, text_part = first["messages"][0]["content"]
    assert text_part == {"type": "text", "text": "find it"}
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(image))  # lossless
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_same_image_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = oa.encode_data_url
    monkeypatch.setattr(oa, "encode_data_url", lambda im, fmt: calls.append(1) or real(im, fmt))
    image = _image()
    with FakeOpenAIServer(lambda n, body: Reply()) as server:
        backend = _backend(server)
        backend.generate([GenerationRequest(image, "a"), GenerationRequest(image, "b")])
        backend.generate([GenerationRequest(image, "c"), GenerationRequest(_image(1), "d")])
        backend.close()
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("replies", "attempts", "timeout_s"),
    [
        ([Reply(500), Reply(503), Reply(content="fine")], 3, 30.0),  # server errors retried
        ([Reply(429, headers={"Retry-After": "0.05"}), Reply(content="fine")], 2, 30.0),
        ([Reply(content="slow", delay_s=1.0), Reply(content="fine")], 2, 0.3),  # timeout retried
    ],
)
def test_transient_failures_are_retried(
    replies: list[Reply], attempts: int, timeout_s: float
) -> None:
    with FakeOpenAIServer(lambda n, body: replies[min(n, len(replies) - 1)]) as server:
        backend = _backend(server, request_timeout_s=timeout_s)
        start = time.perf_counter()
        (out,) = backend.generate([GenerationRequest(_image(), "q")])
        elapsed = time.perf_counter() - start
        backend.close()
    assert (out.text, out.error, out.attempts) == ("fine", None, attempts)
    assert len(server.bodies) == attempts
    if replies[0].status == 429:
        assert elapsed >= 0.05  # Retry-After honoured


def test_persistent_server_errors_fail_the_turn_after_retries() -> None:
    with FakeOpenAIServer(lambda n, body: Reply(500, raw="overloaded")) as server:
        backend = _backend(server, max_retries=3)
        (out,) = backend.generate([GenerationRequest(_image(), "q")])
        backend.close()
    assert out.failed and out.attempts == 4 and len(server.bodies) == 4
    assert "failed after 4 attempt(s)" in out.error and "HTTP 500" in out.error
    assert "overloaded" in out.error


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(400, raw='{"error": "bad request"}'), "HTTP 400"),  # client errors: no retry
        (Reply(200, raw="<html>proxy</html>"), "unexpected response body"),
    ],
)
def test_non_transient_failures_are_not_retried(reply: Reply, error: str) -> None:
    with FakeOpenAIServer(lambda n, body: reply) as server:
        backend = _backend(server)
        (out,) = backend.generate([GenerationRequest(_image(), "q")])
        backend.close()
    assert out.failed and error in out.error and len(server.bodies) == 1


def test_connection_refused_is_retried_then_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", "m", max_retries=2, **FAST)
    (out,) = backend.generate([GenerationRequest(_image(), "q")])
    backend.close()
    assert out.failed and out.attempts == 3 and "connection error" in out.error


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("I see no objects at all", "I see no objects at all"),  # unparseable: kept as is
        (None, ""),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "ab"),
    ],
)
def test_any_answer_that_arrives_is_kept(content: object, text: str) -> None:
    with FakeOpenAIServer(lambda n, body: Reply(content=content)) as server:  # type: ignore[arg-type]
        backend = _backend(server)
        (out,) = backend.generate([GenerationRequest(_image(), "q")])
        backend.close()
    assert (out.text, out.failed, out.attempts) == (text, False, 1)


def test_requests_run_concurrently_and_keep_their_order() -> None:
    """Concurrency as the server sees it: 4 requests in flight at once, never more (each
    reply waits until 4 are live, so no timing is involved), answers in request order."""
    four_live = threading.Barrier(4, timeout=30)

    def script(n: int, body: dict) -> Reply:
        four_live.wait()
        return Reply(content=body["messages"][0]["content"][1]["text"])

    with FakeOpenAIServer(script) as server:
        backend = _backend(server, concurrency=4, request_timeout_s=60)
        out = backend.generate([GenerationRequest(_image(), f"q{i}") for i in range(8)])
        backend.close()
    assert [g.text for g in out] == [f"q{i}" for i in range(8)]
    assert [g.attempts for g in out] == [1] * 8 and len(server.bodies) == 8
    assert server.max_live == 4


def test_options_reach_the_backend_and_sampling_sends_a_seed() -> None:
    options = BackendOptions(
        concurrency=3,
        max_retries=1,
        request_timeout_s=5,
        temperature=0.7,
        seed=11,
        image_format="jpeg",
    )
    with FakeOpenAIServer(lambda n, body: Reply()) as server:
        backend = load_backend(f"openai:{server.base_url}/#rr-7b", options)
        backend.generate([GenerationRequest(_image(), "q")])
        backend.close()
    assert backend.describe()["concurrency"] == 3 and backend.base_url == server.base_url
    body = server.bodies[0]
    assert body["temperature"] == 0.7 and body["seed"] == 11
    assert body["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/jpeg")


LIMIT = 64 * 1024
"""``max_response_bytes`` of the oversized-response tests."""


@pytest.mark.parametrize(
    ("declare_length", "words"),
    [
        (
            True,
            "(Content-Length) is over the limit of 65,536 bytes (--max-response-bytes); not read",
        ),
        (False, "is over the limit of 65,536 bytes (--max-response-bytes); stopped reading after"),
    ],
)
def test_an_oversized_response_fails_the_turn_unread_and_unretried(
    declare_length: bool, words: str
) -> None:
    filler = 64 * 1024 * 1024  # 64 MiB of valid JSON whitespace after the answer
    reply = Reply(content="fine", filler_bytes=filler, declare_length=declare_length)
    with FakeOpenAIServer(lambda n, body: reply) as server:
        backend = _backend(server, max_response_bytes=LIMIT, max_retries=3)
        (out,) = backend.generate([GenerationRequest(_image(), "q")])
        backend.close()
        time.sleep(0.2)  # let the handler notice the closed connection
    assert out.failed and words in out.error
    assert out.attempts == 1 and len(server.bodies) == 1  # fatal: not sent again
    assert server.bytes_written < filler // 2  # the client stopped reading early


def test_a_response_just_under_the_limit_is_read() -> None:
    reply = Reply(content="fine", filler_bytes=LIMIT - 1024)
    with FakeOpenAIServer(lambda n, body: reply) as server:
        backend = _backend(server, max_response_bytes=LIMIT)
        (out,) = backend.generate([GenerationRequest(_image(), "q")])
        backend.close()
    assert (out.text, out.error) == ("fine", None)


def test_an_oversized_error_body_keeps_its_status_and_is_retried() -> None:
    replies = [Reply(503, raw="busy" + " " * (2 * LIMIT)), Reply(content="fine")]
    with FakeOpenAIServer(lambda n, body: replies[min(n, 1)]) as server:
        backend = _backend(server, max_response_bytes=LIMIT)
        (out,) = backend.generate([GenerationRequest(_image(), "q")])
        backend.close()
    assert (out.text, out.attempts) == ("fine", 2)


def test_the_response_limit_is_an_option() -> None:
    with pytest.raises(ConfigError, match="max response bytes"):
        BackendOptions(max_response_bytes=0)
    with FakeOpenAIServer(lambda n, body: Reply()) as server:
        backend = load_backend(
            f"openai:{server.base_url}#m", BackendOptions(max_response_bytes=12345)
        )
        backend.close()
    assert backend.describe()["max_response_bytes"] == 12345


@pytest.mark.parametrize("argument", ["http://localhost:8000/v1", "#model", "localhost:8000/v1#m"])
def test_bad_openai_specs(argument: str) -> None:
    with pytest.raises(ConfigError, match="openai"):
        parse_openai_spec(argument)


ANSWER = (
    "<scene>a scene with shapes</scene><think>the shape</think>"
    '<answer>[{"bbox_2d": [10, 10, 300, 300], "point_2d": [100, 100]}]</answer>'
)


def _eval_rows(out) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_eval_against_a_flaky_server_records_one_row_per_turn(synth_bench, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def flaky(n: int, body: dict) -> Reply:
        if n % 5 == 4:
            return Reply(500, raw="upstream error")  # a fifth of all requests
        if n % 7 == 3:
            return Reply(content=ANSWER, delay_s=1.0)  # beyond the 0.3 s timeout
        return Reply(content=ANSWER)

    out = tmp_path / "run"
    with FakeOpenAIServer(flaky) as server:
        code = main(
            [
                "eval",
                "--data",
                str(synth_bench),
                "--model",
                f"openai:{server.base_url}#rr-7b",
                "--out",
                str(out),
                "--segmenter",
                "box-fill",
                "--concurrency",
                "4",
                "--request-timeout",
                "0.3",
                "--max-retries",
                "3",
                "--retry-backoff",
                "0.01",
                "--batch-size",
                "8",
                "--limit",
                "5",
            ]
        )
    assert code == 0
    rows = _eval_rows(out)
    keys = [(r["dialogue_id"], r["turn_index"]) for r in rows]
    assert len(keys) == len(set(keys)) == 26  # turns of the first five dialogues
    assert len(server.bodies) > 26  # failures were retried
    assert any(r["attempts"] > 1 for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["failed_turns"] == sum(r["failed"] for r in rows)
    answered = [r for r in rows if not r["failed"]]
    assert answered and all(r["text"] == ANSWER and r["format_ok"] for r in answered)


def test_eval_against_a_dead_server_records_failed_turns(synth_bench, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    with FakeOpenAIServer(lambda n, body: Reply(503, raw="down")) as server:
        code = main(
            [
                "eval",
                "--data",
                str(synth_bench),
                "--model",
                f"openai:{server.base_url}#m",
                "--out",
                str(out),
                "--segmenter",
                "box-fill",
                "--limit",
                "2",
                "--max-retries",
                "1",
                "--retry-backoff",
                "0",
            ]
        )
    assert code == 0
    rows = _eval_rows(out)
    assert len(rows) == 11 and all(r["failed"] and "HTTP 503" in r["error"] for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["failed_turns"] == 11 and metrics["overall"]["acc@0.5"] == 0.0


SPLIT = {  # ANSWER as a reasoning parser returns it: the text before <think> is gone
    "role": "assistant",
    "content": '<answer>[{"bbox_2d": [10, 10, 300, 300], "point_2d": [100, 100]}]</answer>',
    "reasoning_content": "the shape",
}


def test_a_split_reasoning_is_rebuilt_marked_lost_and_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FakeOpenAIServer(lambda n, body: Reply(message=SPLIT)) as server:
        backend = _backend(server)
        with caplog.at_level("WARNING", logger=oa.__name__):
            out = backend.generate([GenerationRequest(_image(), f"q{i}") for i in range(3)])
        backend.close()
    assert {g.text for g in out} == {ANSWER.removeprefix("<scene>a scene with shapes</scene>")}
    assert {g.text_lost for g in out} == {"before_reasoning"} and not out[0].failed
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "--reasoning-parser" in warnings[0]


def test_eval_reports_text_metrics_as_unavailable_when_the_server_drops_text(  # type: ignore[no-untyped-def]
    synth_bench, tmp_path, capsys
) -> None:
    out = tmp_path / "run"
    with FakeOpenAIServer(lambda n, body: Reply(message=SPLIT)) as server:
        code = main(
            [
                "eval",
                "--data",
                str(synth_bench),
                "--model",
                f"openai:{server.base_url}#rr-7b",
                "--out",
                str(out),
                "--segmenter",
                "box-fill",
                "--limit",
                "2",
            ]
        )
    assert code == 0
    rows = _eval_rows(out)
    assert len(rows) == 11 and all(r["text_lost"] == "before_reasoning" for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    for entry in (metrics["overall"], *metrics["rounds"].values()):
        assert entry["format_ok"] is None and entry["citation_rate"] is None
        assert entry["hallucinated_citation_rate"] is None
        assert entry["acc@0.5"] is not None  # the answer arrived: boxes are still scored
    assert metrics["overall"]["text_lost_turns"] == 11
    assert metrics["text_lost"] == {"before_reasoning": 11}
    assert set(metrics["unavailable"]) == {
        "format_ok",
        "citation_rate",
        "hallucinated_citation_rate",
    }
    assert "11 of 11 turns" in metrics["unavailable"]["format_ok"]
    err = capsys.readouterr().err
    assert "format_ok, citation_rate, hallucinated_citation_rate are reported as null" in err
    assert "--reasoning-parser" in err and "response_template" in err
    report = (out / "report.md").read_text()
    assert "Unavailable (n/a): format_ok" in report
