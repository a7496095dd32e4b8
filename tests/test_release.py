"""Release metadata agrees everywhere it is written, and the README's figures have a source.

The version is written once (``regionreasoner.__version__``); ``pyproject.toml`` reads it,
``regionreasoner --version`` prints it, and ``CITATION.cff`` and ``CHANGELOG.md`` repeat
it for the tools and readers that look there. The licence is stated in ``pyproject.toml``,
``LICENSE``, ``CITATION.cff`` and the bundled model's card. The paper is cited in
``CITATION.cff`` (``preferred-citation``) and in the README's BibTeX.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import regionreasoner

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+][0-9A-Za-z.-]+)?$")
CHANGELOG_VERSION = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?$")
KEEP_A_CHANGELOG_SECTIONS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
APACHE_2_MARKERS = (
    "Apache License",
    "Version 2.0, January 2004",
    "http://www.apache.org/licenses/",
    "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
    "9. Accepting Warranty or Additional Liability.",
    "END OF TERMS AND CONDITIONS",
)
FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
"""A number in running text; a figure when it has a decimal point or two or more digits."""


def _text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads(_text("pyproject.toml"))


@pytest.fixture(scope="module")
def citation() -> dict[str, Any]:
    return yaml.safe_load(_text("CITATION.cff"))


@pytest.fixture(scope="module")
def changelog_releases() -> list[tuple[str, str | None]]:
    """``(version, date)`` of every ``## [...]`` heading of CHANGELOG.md, top first."""
    releases = []
    for line in _text("CHANGELOG.md").splitlines():
        if line.startswith("## "):
            match = CHANGELOG_VERSION.match(line)
            assert match, f"CHANGELOG.md: not a Keep a Changelog heading: {line!r}"
            releases.append((match["version"], match["date"]))
    return releases


def _readme_section(title: str) -> str:
    text = _text("README.md")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _bibtex_fields(entry: str) -> dict[str, str]:
    return {
        key.lower(): value.strip()
        for key, value in re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$", entry, flags=re.MULTILINE)
    }


# ------------------------------------------------------------------------------ version


def test_the_version_has_one_source(pyproject: dict[str, Any]) -> None:
    project = pyproject["project"]
    assert "version" not in project and "version" in project["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "regionreasoner.__version__"
    source = _text("src/regionreasoner/__init__.py")
    assert len(re.findall(r"^__version__ = ", source, flags=re.MULTILINE)) == 1
    assert SEMVER.match(regionreasoner.__version__), regionreasoner.__version__


def test_cli_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "regionreasoner", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"regionreasoner {regionreasoner.__version__}"


def test_changelog_follows_keep_a_changelog_and_tops_at_the_version(
    changelog_releases: list[tuple[str, str | None]],
) -> None:
    text = _text("CHANGELOG.md")
    assert text.startswith("# Changelog\n")
    assert "keepachangelog.com" in text
    released = [(v, d) for v, d in changelog_releases if v != "Unreleased"]
    assert [v for v, _ in changelog_releases[:1]] in (["Unreleased"], [released[0][0]])
    assert released[0][0] == regionreasoner.__version__
    assert all(SEMVER.match(v) and d for v, d in released), released
    dates = [datetime.date.fromisoformat(d) for _, d in released if d]
    assert dates == sorted(dates, reverse=True)  # newest first
    sections = set(re.findall(r"^### (.+)$", text, flags=re.MULTILINE))
    assert sections <= KEEP_A_CHANGELOG_SECTIONS, sections


def test_citation_cff_repeats_version_date_and_licence(
    citation: dict[str, Any],
    pyproject: dict[str, Any],
    changelog_releases: list[tuple[str, str | None]],
) -> None:
    assert citation["cff-version"] == "1.2.0"
    for key in ("authors", "message", "title"):  # required by the CFF 1.2.0 schema
        assert citation[key], key
    assert citation["type"] == "software"
    assert str(citation["version"]) == regionreasoner.__version__
    release_date = dict(changelog_releases)[regionreasoner.__version__]
    assert str(citation["date-released"]) == release_date
    assert citation["license"] == pyproject["project"]["license"]


# ------------------------------------------------------------------------------ licence


def test_licence_is_apache_2_everywhere(pyproject: dict[str, Any]) -> None:
    from regionreasoner.micro.model import MODEL_LICENSE

    assert pyproject["project"]["license"] == "Apache-2.0"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    licence = _text("LICENSE")
    positions = [licence.find(marker) for marker in APACHE_2_MARKERS]
    assert -1 not in positions and positions == sorted(positions), positions
    assert pyproject["project"]["license"] == MODEL_LICENSE  # the bundled weights' card


def test_readme_states_the_licence(pyproject: dict[str, Any]) -> None:
    section = _readme_section("License")
    assert pyproject["project"]["license"] in section
    assert "(LICENSE)" in section and "assets/micro-model/README.md" in section


# ------------------------------------------------------------------------------ citation


def test_readme_bibtex_is_the_preferred_citation(citation: dict[str, Any]) -> None:
    paper = citation["preferred-citation"]
    blocks = re.findall(r"```bibtex\n(.*?)```", _readme_section("Citing"), flags=re.DOTALL)
    assert len(blocks) == 1
    entry = blocks[0]
    assert re.match(r"@inproceedings\{\w+,\n", entry)
    fields = _bibtex_fields(entry)
    assert fields["title"] == paper["title"]
    assert fields["author"].split(" and ") == [
        f"{a['family-names']}, {a['given-names']}" for a in paper["authors"]
    ]
    assert int(fields["year"]) == paper["year"]
    assert paper["type"] == "conference-paper"
    assert "ICLR" in fields["booktitle"] and "ICLR" in paper["conference"]["name"]
    arxiv = fields["eprint"]
    assert fields["archiveprefix"] == "arXiv"
    assert {"type": "other", "value": f"arXiv:{arxiv}"} in [
        {k: i[k] for k in ("type", "value")} for i in paper["identifiers"]
    ]
    assert paper["url"] == f"https://arxiv.org/abs/{arxiv}"


# ------------------------------------------------------------------------------ figures


def _blocks(markdown: str) -> list[str]:
    """Paragraphs, list items, table rows and headings, each joined into one line."""
    blocks: list[str] = []
    current: list[str] = []
    for line in markdown.splitlines():
        if (not line.strip() or line.startswith(("|", "- ", "#"))) and current:
            blocks.append(" ".join(current))
            current = []
        if line.startswith(("|", "#")):
            blocks.append(line)
        elif line.strip():
            current.append(line.strip())
    return blocks + ([" ".join(current)] if current else [])


def test_every_figure_of_what_it_reproduces_comes_from_a_linked_doc() -> None:
    """Each paragraph, item or row that states a figure links a docs/ page holding it."""
    checked = 0
    for block in _blocks(_readme_section("What it reproduces")):
        prose = re.sub(r"\]\([^)]*\)", "]", block)  # link targets are not figures
        figures = {
            f.rstrip(",") for f in FIGURE.findall(prose) if "." in f or len(f.replace(",", "")) >= 2
        }
        if not figures:
            continue
        docs = re.findall(r"\]\((docs/[\w./-]+\.md)(?:#[\w-]+)?\)", block)
        assert docs, f"README 'What it reproduces': figures without a docs/ link: {block!r}"
        sources = "\n".join(_text(doc) for doc in docs)
        for figure in sorted(figures):
            assert figure in sources, f"{figure} is not in {docs}: {block!r}"
            checked += 1
    assert checked >= 10  # the section states the paper's and the micro model's numbers


def test_readme_links_resolve_to_existing_anchors() -> None:
    """Links of the two new sections point at files and headings that exist."""

    def anchors(doc: str) -> set[str]:
        slugs = set()
        for heading in re.findall(r"^#+ (.+)$", _text(doc), flags=re.MULTILINE):
            slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
            slugs.add(slug)
        return slugs

    text = _readme_section("What it reproduces") + _readme_section("Citing")
    for doc, anchor in re.findall(r"\]\(((?:docs/)?[\w./-]+\.\w+)(?:#([\w-]+))?\)", text):
        assert (REPO / doc).is_file(), doc
        if anchor:
            assert anchor in anchors(doc), f"{doc}#{anchor}"
