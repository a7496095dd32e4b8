"""The named choices of micro training and bundling, in one place.

Standard library only: ``regionreasoner micro --help`` lists these choices without
loading the training code (torch, PIL, the data stack). :mod:`.sft`, :mod:`.probes` and
:mod:`.model` validate against the same tuples.
"""

from __future__ import annotations

PROMPT_NAME = "regionreasoner"
"""The prompt the micro model is trained on (the evaluation default)."""

TARGET_STYLES = ("enumerate", "caption", "direct")
"""Styles of the four-tag SFT targets (see :mod:`regionreasoner.micro.sft`)."""

BOX_MODES = ("regression", "vocab")
"""``regression``: a linear head regresses the 4 coordinates / 840 after
:data:`.probes.BOX_LAYER`. ``vocab``: four linear maps send the state after
:data:`.probes.VOCAB_BOX_LAYER` into the token-embedding space, where the model's own
(tied) integer-token embeddings score every value 0..840 (Gaussian soft targets), so a
box is held in the same code the output layer reads."""

BUNDLE_WEIGHT_DTYPES = ("float16", "float32")
"""Storage precisions of bundled weights. ``float16`` halves the file; the config keeps
``float32``, so ``hf:<path>`` (``--dtype auto``) loads and computes in float32."""
