"""Fixtures of the backend tests: a real ``transformers serve`` process (session scope)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from real_server import ServedModel, served_model


@pytest.fixture(scope="session")
def transformers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedModel]:
    """``transformers serve`` hosting the bundled micro model on 127.0.0.1 (free port).

    Needs the ``hf`` extra and ``transformers[serving]`` (the ``dev`` extra installs it);
    a missing serving dependency fails the tests with the server's own message.
    """
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from regionreasoner.assets import bundled_model_path

    model_dir = bundled_model_path()
    if model_dir is None:
        pytest.skip("this installation has no bundled micro model")
    log = tmp_path_factory.mktemp("transformers_serve") / "serve.log"
    with served_model(model_dir, log) as served:
        yield served
