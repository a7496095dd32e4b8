"""The multi-round engine: prompts, reference policies and the round-synchronous runner."""
