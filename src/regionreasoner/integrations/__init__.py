"""Bridges to training frameworks: TRL reward callables and datasets, veRL scoring, launchers."""
