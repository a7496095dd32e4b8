"""Load pickles that may only hold plain data, refusing anything that could run code.

The ``refer`` toolkit ships its referring expressions as Python-2 era pickles
(``refs(unc).p``, ...). Unpickling an untrusted file with :func:`pickle.load` can run
arbitrary code: a ``GLOBAL``/``STACK_GLOBAL``/``INST``/``OBJ`` opcode imports any
callable (``os.system``) and ``REDUCE``/``NEWOBJ``/``BUILD`` call it. Every one of those
paths needs a callable, and the unpickler can only obtain one through
:meth:`pickle.Unpickler.find_class` (the mechanism the Python documentation recommends
for "restricting globals"). :class:`_PlainDataUnpickler` refuses every ``find_class``
and every persistent id, so only opcodes that build plain values remain:

* containers: ``dict``, ``list``, ``tuple``, and (protocol 4+ opcodes) ``set``,
  ``frozenset``; ``bytearray`` (protocol 5);
* scalars: ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``.

This holds for every protocol (0 to 5). A Python-3 pickle of ``bytes`` written with
protocol 0-2, or of a ``set`` with protocol 0-3, goes through a global
(``_codecs.encode``, ``builtins.set``) and is therefore refused as well: the refer
toolkit's files contain neither.

Python 2 ``str`` objects (byte strings) are decoded as UTF-8 by the unpickler itself,
so non-ASCII expressions keep their characters (the usual ``encoding="latin1"`` advice
turns UTF-8 text into mojibake). Only when some Python-2 string is not valid UTF-8 is
the file read again with ``encoding="bytes"`` and every byte string decoded on its own,
as UTF-8 when it can be and as Latin-1 otherwise. Python-3 ``bytes`` objects (protocol
3+, absent from the toolkit's files) are returned unchanged.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
from typing import Any

from regionreasoner.errors import DataFormatError

logger = logging.getLogger(__name__)

_LOAD_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    OverflowError,
    MemoryError,
    RecursionError,
    struct.error,
)


class UnsafePickleError(DataFormatError):
    """A pickle asked for a global or a persistent object: refused, nothing was run."""


class _Refused(Exception):
    """Raised inside the unpickler; turned into :class:`UnsafePickleError` with the path."""


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that can build plain values only (no global is ever resolved)."""

    def find_class(self, module: str, name: str) -> Any:
        raise _Refused(f"it references the global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("it references a persistent object")


def _decode_text(raw: bytes | bytearray) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(raw).decode("latin-1")


def _decode_bytes(obj: Any) -> Any:
    """Decode every byte string of a value loaded with ``encoding="bytes"``."""
    kind = type(obj)
    if kind is bytes or kind is bytearray:
        return _decode_text(obj)
    if kind is list:
        return [_decode_bytes(v) for v in obj]
    if kind is tuple:
        return tuple(_decode_bytes(v) for v in obj)
    if kind is dict:
        return {_decode_bytes(k): _decode_bytes(v) for k, v in obj.items()}
    if kind is set or kind is frozenset:
        return kind(_decode_bytes(v) for v in obj)
    return obj


def _unpickle(path: str | os.PathLike[str], encoding: str) -> Any:
    name = str(path)
    try:
        with open(path, "rb") as handle:
            return _PlainDataUnpickler(handle, encoding=encoding).load()
    except _Refused as e:
        raise UnsafePickleError(
            f"refused to unpickle: {e}; only plain containers and scalars are allowed "
            "(the file may be malicious and was not executed)",
            path=name,
        ) from None
    except OSError as e:
        raise DataFormatError(f"cannot read pickle: {e.strerror or e}", path=name) from e
    except UnicodeDecodeError:
        if encoding != "bytes":
            raise  # the caller retries with encoding="bytes"
        raise DataFormatError("not a readable pickle (undecodable text)", path=name) from None
    except _LOAD_ERRORS as e:
        raise DataFormatError(f"not a readable pickle ({type(e).__name__}: {e})", path=name) from e


def load_plain_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle a file that may only contain plain containers and scalars.

    Args:
        path: the pickle file (any protocol, Python 2 or 3).

    Returns:
        The value, with Python-2 byte strings decoded to ``str``.

    Raises:
        UnsafePickleError: the file references a global (a class or callable such as
            ``os.system``) or a persistent object; nothing from it was executed.
        DataFormatError: the file cannot be read or is not a valid pickle.

    >>> import pickle, tempfile, os
    >>> with tempfile.NamedTemporaryFile(suffix=".p", delete=False) as f:
    ...     pickle.dump([{"ref_id": 1, "sent": "man"}], f, protocol=2)
    >>> load_plain_pickle(f.name)
    [{'ref_id': 1, 'sent': 'man'}]
    >>> os.unlink(f.name)
    """
    try:
        return _unpickle(path, "utf-8")
    except UnicodeDecodeError:
        logger.debug("%s: a Python-2 string is not UTF-8; decoding strings one by one", path)
    return _decode_bytes(_unpickle(path, "bytes"))


__all__ = ["UnsafePickleError", "load_plain_pickle"]
