"""``regionreasoner serve`` on the command line (the page itself: test_browser.py)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from regionreasoner import assets
from regionreasoner.cli.main import main
from regionreasoner.serve import app as app_module


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--model",
        "--segmenter",
        "--protocol",
        "--host",
        "--port",
        "--prompt",
        "--max-upload-mb",
        "--max-image-pixels",
        "--request-timeout",
        "regionreasoner serve --model oracle",
    ):
        assert flag in out


def test_model_is_required_without_a_bundled_model(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "bundled_model_spec", lambda: None)
    assert main(["serve"]) == 2
    assert "--model is required" in capsys.readouterr().err


def test_the_default_model_is_the_bundled_one(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    expected = None if assets.bundled_model_path() is None else f"hf:{assets.bundled_model_path()}"
    assert assets.bundled_model_spec() == expected
    monkeypatch.setattr(assets, "bundled_model_path", lambda: tmp_path)
    assert assets.bundled_model_spec() == f"hf:{tmp_path}"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--max-upload-mb", "0"], "expected a number > 0"),
        (["--request-timeout", "-1"], "expected a number > 0"),
        (["--port", "70000"], "port in 1..65535"),
        (["--examples", "-1"], "integer >= 0"),
        (["--max-image-pixels", "0"], "the limit must be a positive integer"),
        (["--max-image-pixels", "179000000"], "above Pillow's own limit"),
    ],
)
def test_bad_flags_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model", "oracle", *argv])
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--segmenter", "sam3"], "unknown segmenter 'sam3'"),
        (["--protocol", "nips"], "unknown protocol 'nips'"),
        (["--prompt", "nope"], "unknown prompt 'nope'"),
    ],
)
def test_bad_specs_exit_2_before_serving(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert main(["serve", "--model", "oracle", *argv]) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.slow
def test_serve_launches_on_the_requested_address_and_reports_a_busy_port(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    real_launch = app_module.ServeApp.launch

    def fake_launch(self: app_module.ServeApp, **kwargs: Any) -> str:
        calls.append(kwargs)
        self.close()
        return "http://127.0.0.1:1/"

    monkeypatch.setattr(app_module.ServeApp, "launch", fake_launch)
    assert main(["serve", "--model", "oracle", "--examples", "1", "--port", "7999"]) == 0
    assert calls == [{"host": "127.0.0.1", "port": 7999, "block": True, "quiet": True}]

    monkeypatch.setattr(app_module.ServeApp, "launch", real_launch)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--model", "oracle", "--examples", "0", "--port", str(port)]) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err


def test_max_image_pixels_reaches_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_launch(self: app_module.ServeApp, **kwargs: Any) -> str:
        seen.append(self.controller.settings.max_image_pixels)
        self.close()
        return "http://127.0.0.1:1/"

    monkeypatch.setattr(app_module.ServeApp, "launch", fake_launch)
    assert main(["serve", "--model", "oracle", "--examples", "0", "--max-image-pixels", "777"]) == 0
    assert main(["serve", "--model", "oracle", "--examples", "0"]) == 0
    assert seen == [777, 120_000_000]
