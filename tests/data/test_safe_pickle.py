"""The plain-data unpickler: every protocol loads, Python-2 strings decode, code never runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from regionreasoner.data.safe_pickle import UnsafePickleError, load_plain_pickle
from regionreasoner.errors import DataFormatError

PLAIN = [
    {"ref_id": 1, "split": "testA", "sentences": [{"sent": "man", "tokens": ["man"]}]},
    {"ref_id": 70000, "score": 0.5, "flags": (True, False, None), "neg": -3},
]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_load_plain_pickle_every_protocol_round_trips_plain_data(tmp_path, protocol):
    path = tmp_path / "refs.p"
    path.write_bytes(pickle.dumps(PLAIN, protocol=protocol))
    assert load_plain_pickle(path) == PLAIN


@pytest.mark.parametrize("protocol", [0, 2])
def test_load_plain_pickle_python2_byte_strings_decode_as_utf8(tmp_path, protocol, py2_tools):
    data = [
        {"sent": "café cup", "raw": py2_tools.unicode("Café cup"), "id": 300, "x": 1.5, "ok": True}
    ]
    path = tmp_path / "refs(unc).p"
    path.write_bytes(py2_tools.pickle(data, protocol))
    # Latin-1 (the usual advice) would give mojibake for the UTF-8 byte string
    assert pickle.loads(path.read_bytes(), encoding="latin1")[0]["sent"] == "cafÃ© cup"
    assert load_plain_pickle(path) == [
        {"sent": "café cup", "raw": "Café cup", "id": 300, "x": 1.5, "ok": True}
    ]


@pytest.mark.parametrize("protocol", [0, 2])
def test_load_plain_pickle_python2_invalid_utf8_string_falls_back_to_latin1(
    tmp_path, protocol, py2_tools
):
    path = tmp_path / "refs.p"
    path.write_bytes(py2_tools.pickle([{"sent": b"caf\xe9", "ok": "café"}], protocol))
    # each string decodes on its own: Latin-1 for the invalid one, UTF-8 for the other
    assert load_plain_pickle(path) == [{"sent": "café", "ok": "café"}]


def test_load_plain_pickle_python3_bytes_stay_bytes(tmp_path):
    path = tmp_path / "refs.p"
    path.write_bytes(pickle.dumps({"blob": b"\x00\xff"}, protocol=3))
    assert load_plain_pickle(path) == {"blob": b"\x00\xff"}


def test_load_plain_pickle_sets_of_protocol_4_are_plain(tmp_path):
    path = tmp_path / "s.p"
    path.write_bytes(pickle.dumps({"ids": {1, 2}, "f": frozenset({3})}, protocol=4))
    assert load_plain_pickle(path) == {"ids": {1, 2}, "f": frozenset({3})}


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_pickles(marker: Path) -> dict[str, bytes]:
    cmd = f"touch {marker}".encode()
    out = {
        f"reduce-p{p}": pickle.dumps([{"ref_id": 1}, _Payload(marker)], protocol=p)
        for p in (0, 2, 4, 5)
    }
    # hand-written opcodes: GLOBAL + REDUCE (protocol 0), INST, STACK_GLOBAL (protocol 4)
    out["global-p0"] = b"cos\nsystem\n(S'" + cmd + b"'\ntR."
    out["inst-p0"] = b"(S'" + cmd + b"'\nios\nsystem\n."
    out["stack-global-p4"] = (
        b"\x80\x04\x8c\x08builtins\x94\x8c\x04exec\x94\x93\x94\x8c"
        + bytes([len(b"import os; os.system('" + cmd + b"')")])
        + b"import os; os.system('"
        + cmd
        + b"')"
        + b"\x94\x85\x94R\x94."
    )
    out["global-class-p2"] = b"\x80\x02c__builtin__\nset\n]\x85R."
    return out


@pytest.mark.parametrize(
    "name",
    [
        *(f"reduce-p{p}" for p in (0, 2, 4, 5)),
        "global-p0",
        "inst-p0",
        "stack-global-p4",
        "global-class-p2",
    ],
)
def test_load_plain_pickle_refuses_code_and_runs_nothing(tmp_path, name):
    marker = tmp_path / "PWNED"
    path = tmp_path / "refs(unc).p"
    path.write_bytes(_malicious_pickles(marker)[name])
    with pytest.raises(UnsafePickleError) as info:
        load_plain_pickle(path)
    assert str(path) in str(info.value)
    assert "global" in str(info.value)
    assert not marker.exists()


def test_malicious_payload_is_live_under_plain_pickle(tmp_path):
    """The payload really runs code under ``pickle.loads`` (so the refusal test is meaningful)."""
    marker = tmp_path / "PWNED"
    pickle.loads(_malicious_pickles(marker)["global-p0"])
    assert marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # empty file
        b"\x80\x05garbage",  # unknown opcode
        b"(lp0\nI1\na",  # truncated (no STOP)
        b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00\x97.",  # out-of-band buffer, none given
        b"\x80\x02X\x00\x00\x00\x10short.",  # length beyond the data
    ],
)
def test_load_plain_pickle_broken_files_raise_data_format_error(tmp_path, payload):
    path = tmp_path / "bad.p"
    path.write_bytes(payload)
    with pytest.raises(DataFormatError, match=str(path).replace("(", r"\(")):
        load_plain_pickle(path)


def test_load_plain_pickle_missing_file_names_it(tmp_path):
    with pytest.raises(DataFormatError, match=r"missing\.p"):
        load_plain_pickle(tmp_path / "missing.p")
