"""Small Qwen2.5-VL models built from a config, fully offline (nothing is downloaded).

* :mod:`.tiny`: a 0.4 M-parameter model with random weights for plumbing: the tests,
  ``regionreasoner make-tiny-model`` and ``model.tiny`` of ``regionreasoner train``.
* :mod:`.model`: the micro RegionReasoner, a few-million-parameter model meant to be
  trained on CPU (one token per coordinate, the question before the image), and
  :func:`.model.bundle_micro`, which ships a trained checkpoint as the model
  ``regionreasoner demo`` loads.
* :mod:`.sft`: its supervised warm start (one resumable stage: ``regionreasoner micro
  train``) on the samples of :mod:`.samples` (four-tag targets rendered from the ground
  truth), with the dense auxiliary probes of :mod:`.probes`.
* :mod:`.qwen`: what the two models share (tokenizer, chat template, config, processor,
  atomic save); :mod:`.options`: the named choices the CLI offers.

Both models live here, not in ``integrations/``, because they are built from the same
pieces (:mod:`.qwen`) and neither adapts an external training framework; the recipe that
trains the micro model is ``recipes/micro/run.sh`` (``docs/micro_reproduction.md``).

Layer: above ``dialogue`` (the prompts) and below ``integrations`` (TRL training builds
the tiny model for ``model.tiny``) and ``cli``. Importing this package imports nothing;
torch and transformers load when a model is built.
"""
