"""``regionreasoner serve``: an interactive page for multi-round grounding and annotation.

The page runs the same engine as ``regionreasoner eval``
(:mod:`regionreasoner.dialogue.interactive`): the same prompts, answer parser,
reference substitution and segmenters. Layers:

* :mod:`~regionreasoner.serve.examples`: example images (a synthetic benchmark built on
  start) and the ground truth the ``oracle`` backend answers from;
* :mod:`~regionreasoner.serve.state`: one browser session's dialogue: region labels
  (``R1``, ``U1``), references, corrections and the RegionDial export;
* :mod:`~regionreasoner.serve.drawing` and :mod:`~regionreasoner.serve.render`: the
  annotated image and the HTML panels;
* :mod:`~regionreasoner.serve.controller`: every user action as a plain function of the
  session state (no web framework; unit-tested directly);
* :mod:`~regionreasoner.serve.app`: the Gradio page wired to the controller.

Only :mod:`~regionreasoner.serve.app` imports Gradio (the ``serve`` extra).
"""
