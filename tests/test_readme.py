"""The README's command lines parse with the real CLI, so the docs cannot drift from it."""

import re
import shlex
from pathlib import Path

import pytest

from curvecast.cli import _parser

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = []
    for line in lines:
        words = shlex.split(line)
        if "curvecast" in words and words[0] in ("curvecast", "torchrun"):
            commands.append(words[words.index("curvecast") + 1 :])
    return commands


def test_readme_cli_lines_parse():
    commands = readme_commands()
    assert len(commands) >= 6
    parser = _parser()
    for argv in commands:
        parser.parse_args(argv)  # argparse exits (failing the test) on unknown flags or subcommands


def test_readme_starts_with_install_test_and_main_job():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.S).group(1).splitlines()
    assert first_block[0].startswith("pip install") and first_block[1].startswith("pytest") and first_block[2].startswith("curvecast ")


#: README lines that name placeholders for the user's own files, data outside the repository, or the GPU recipe.
PLACEHOLDERS = ("my.json", "mypackage.", "../shared/", "cuda", "--preset default")


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path, monkeypatch):
    """Every README command runs from a fresh folder holding the repository's examples/; training lines run for
    two steps (``--steps 2`` appended: their recipes take minutes to hours), the GPU recipe only with a GPU."""
    import torch

    from curvecast.cli import main

    (tmp_path / "examples").symlink_to(README.parent / "examples")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for argv in readme_commands():
        line = " ".join(argv)
        if any(p in line for p in PLACEHOLDERS) and not ("cuda" in line and torch.cuda.is_available()):
            continue
        if argv[0] == "train":
            argv = [*argv, "--steps", "2", "--no-progress"]
        assert main(argv) == 0, line
        ran += 1
    assert ran >= 13
