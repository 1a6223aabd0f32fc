"""Rewrite the README's settings section from ``tap-exports --about --format=markdown``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_markdown() -> str:
    about = subprocess.run(
        [str(Path(sys.executable).with_name("tap-exports")), "--about", "--format=markdown"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    table = about[about.index("## Settings") :]
    table = table[: table.index("A full list of supported settings")].strip()
    return table.replace(
        "## Settings", "## Settings\n\nFrom `tap-exports --about --format=markdown`:", 1
    )


def main() -> None:
    text = README.read_text()
    block = f"{START}\n{settings_markdown()}\n{END}"
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    README.write_text(text)


if __name__ == "__main__":
    main()
