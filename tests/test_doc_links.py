"""Every relative link in README.md and docs/ points at a file that exists (and a heading that exists)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "README.md",
    ROOT / "examples" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "edge" / "models" / "MODEL_CARD.md",
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        missing_heading = anchor and dest.suffix == ".md" and dest.exists() and anchor not in anchors(dest)
        if not dest.exists() or missing_heading:
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_readme_keeps_the_two_set_up_commands():
    readme = (ROOT / "README.md").read_text()
    assert "bash .ci/run" in readme
    assert ".venv/bin/pip install . && .venv/bin/maskgate run --source" in readme


ARCHITECTURE = ROOT / "docs" / "architecture.md"
REPO_PATH = re.compile(r"`((?:edge|convert|tests|docs|benchmarks|systemd|examples|\.ci)/[\w./-]*)`")
DOTTED = re.compile(r"`\"?((?:edge|convert)(?:\.\w+)+)(?::\w+)?")
PLACEHOLDERS = ("mydetector", "myoutput", "mine")
"""What the recipes tell you to create: named there, absent here."""


def placeholder(name: str) -> bool:
    return any(part in PLACEHOLDERS for part in re.split(r"[./:]", name.removesuffix(".py")))


def test_architecture_names_only_paths_that_exist():
    text = ARCHITECTURE.read_text()
    paths = [p for p in REPO_PATH.findall(text) if not placeholder(p)]
    assert len(paths) > 10
    assert [p for p in paths if not (ROOT / p).exists()] == []


def test_architecture_names_only_modules_and_attributes_that_exist():
    import importlib

    missing = []
    for name in sorted(set(DOTTED.findall(ARCHITECTURE.read_text()))):
        if placeholder(name):
            continue
        parts = name.split(".")
        for split in range(len(parts), 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            for attribute in parts[split:]:
                found = getattr(found, attribute, None)
            break
        if found is None:
            missing.append(name)
    assert missing == []


def test_architecture_folder_map_is_the_tree():
    """The folder map lists every folder of edge/ and convert/, and each file and folder it lists exists."""
    block = ARCHITECTURE.read_text().split("## Folders", 1)[1].split("```")[1]
    listed: set[str] = set()
    top = ""
    for line in block.splitlines():
        names = line.split("  ")[0].strip() if line.startswith("  ") else line.split()[0] if line.strip() else ""
        if not line.startswith("  ") and names:
            top = names
            continue
        for name in filter(None, (n.strip() for n in line.strip().split("  ")[0].split(","))):
            if name.endswith(("/", ".py")):
                listed.add(top + name)
    assert [name for name in sorted(listed) if not (ROOT / name).exists()] == []
    folders = {
        f"{package}/{path.name}/"
        for package in ("edge", "convert")
        for path in (ROOT / package).iterdir()
        if path.is_dir() and path.name != "__pycache__"
    }
    assert folders - listed == set()
