"""Run the console blocks of README.md and docs/*.md, and compare what they print.

A console block is a fenced block whose lines start with ``$ `` (a command) followed by
the output it printed. The blocks of one document run in order in one session: a temporary
folder that stands for ``/tmp`` in the text (``/tmp/vision-lab`` is ``ROOT/vision-lab``),
the fake machines of ``tests/machines.py`` under ``/tmp/machines/NAME``, the loopback index
of ``tests/wheelindex.py`` through ``[mirrors]``, and ``mlstack`` on PATH. Each block runs
in one bash process (``2>&1``: what a terminal shows), starting from the working directory
and exported variables the previous block left.

A block may be indented (inside a Markdown list item): its fence and its lines carry the
same indent, which is stripped for running and kept when outputs are written back.

An HTML comment on the line before a block (with any indent) sets how it runs, for it and
the blocks after it in the document (``key=value`` pairs separated by ``;``):

- ``machine=NAME`` — ``MLSTACK_ROOT`` is that fake machine (default ``no-gpu``);
- ``cd=DIR`` — start in ``ROOT/DIR`` (made if missing);
- ``home=DIR`` — ``MLSTACK_HOME`` is ``ROOT/DIR`` (default ``ROOT/mlstack-home``);
- ``setup=NAME`` — call a setup function of tests/test_docs.py first (this block only;
  it may set ``Session.block_env``: variables exported for this block only);
- ``shell=fish`` — run the block in fish instead of bash (this block only);
- ``skip=REASON`` — do not run it (this block only): root, a GPU, a cluster, a terminal.

Outputs are compared after normalising what differs between runs: the session folder,
times, sizes, hashes, ports, and runs of spaces (table widths follow sizes).
``MLSTACK_DOCS_UPDATE=1`` writes the real outputs into the documents instead.

Why a runner of our own rather than Sybil, prysk or pytest-console-scripts: the docs are
Markdown with ``$``-prompt fences (prysk/cram want indented ``.t`` files; Sybil has no
console-session parser and no update mode; pytest-console-scripts runs scripts, not
documents), and the blocks need the fake machines, the loopback index and a session that
carries state from block to block. This file is about 240 lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests import machines
from tests.wheelindex import WheelIndex, write_mirrors

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARK = "\x1e-mlstack-docs-\x1e"
_FENCE = re.compile(r"^([ \t]*)```")
DIRECTED = ("MLSTACK_ROOT", "MLSTACK_HOME", "MLSTACK_CONFIG")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    """One console block: where it is, its directives, its commands and their outputs."""
    doc: Path
    start: int  # index of the first line inside the fence
    end: int  # index of the closing fence
    directives: dict[str, str]
    indent: str = ""  # the fence's (a block in a list item), on every line of it
    commands: list[str] = field(default_factory=list)
    outputs: list[list[str]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.start}"


def blocks(doc: Path) -> list[Block]:
    """The console blocks of ``doc``, in order."""
    lines = doc.read_text(encoding="utf-8").split("\n")
    out: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent = fence.group(1)
        end = next(j for j in range(i + 1, len(lines))
                   if lines[j].startswith(indent + "```"))
        body = [line.removeprefix(indent) if line.startswith(indent) else line.strip()
                for line in lines[i + 1:end]]
        if body and body[0].startswith("$ "):
            directives: dict[str, str] = {}
            m = _DIRECTIVE.match(lines[i - 1]) if i else None
            if m:
                for part in m.group(1).split(";"):
                    key, _, value = part.strip().partition("=")
                    directives[key.strip()] = value.strip()
            block = Block(doc, i + 1, end, directives, indent)
            for line in body:
                if line.startswith("$ "):
                    block.commands.append(line[2:])
                    block.outputs.append([])
                else:
                    block.outputs[-1].append(line)
            out.append(block)
        i = end + 1
    return out


def console_fences(doc: Path) -> int:
    """Fenced blocks that hold a ``$`` command anywhere (each must start with one)."""
    return len(re.findall(r"^([ \t]*)```[^\n]*\n(?:(?![ \t]*```)[^\n]*\n)*?\1\$ ",
                          doc.read_text(), re.M))


@dataclass
class Session:
    """One document's run: the folder standing for /tmp, the environment, the state."""
    root: Path
    env: dict[str, str]
    cwd: Path
    setups: dict[str, Callable[[Session], None]]
    index: WheelIndex | None = None
    machine: str = "no-gpu"
    # Servers a setup starts for the rest of the document (closed when it ends).
    exits: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    # What a setup exports for its block only (e.g. a PATH without a tool).
    block_env: dict[str, str] = field(default_factory=dict)

    def machine_root(self, name: str) -> Path:
        path = self.root / "machines" / name
        if not path.exists():
            machines.MACHINES[name](path)
        return path

    def apply(self, block: Block) -> None:
        d = block.directives
        self.block_env = {}
        if self.index is not None:  # a setup may have pointed [mirrors] elsewhere
            write_config(self.root, self.index.mirrors)
        if "machine" in d:
            self.machine = d["machine"]
        self.env["MLSTACK_ROOT"] = str(self.machine_root(self.machine))
        if "home" in d:
            self.env["MLSTACK_HOME"] = str(self.root / d["home"])
        if "cd" in d:
            self.cwd = self.root / d["cd"]
            self.cwd.mkdir(parents=True, exist_ok=True)
        if "setup" in d:
            for name in d["setup"].split(","):
                self.setups[name.strip()](self)

    def run(self, block: Block) -> list[list[str]]:
        """Run ``block``'s commands; their outputs, with the session root shown as /tmp."""
        for name in re.findall(r"/tmp/machines/([\w.-]+)", "\n".join(block.commands)):
            self.machine_root(name)
        state = self.root / ".state"
        if block.directives.get("shell") == "fish":
            script = "".join(f"printf '{MARK}\\n'\n{c}\n" for c in block.commands)
            argv = ["fish", "-c", script]
        else:
            # The previous block's exports, then what this block's directives set.
            mine = " ".join(f"{k}={shlex.quote(self.env[k])}" for k in DIRECTED)
            # The block's own variables, and their values before it, restored after it.
            own = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.block_env.items())
            names = "|".join(self.block_env) or "-"
            script = ("exec 2>&1\n"
                      f"[ -f {state}.env ] && . {state}.env\n"
                      f"export {mine}\n"
                      f"_docs_saved=$(export -p | grep -E '^declare -x ({names})=')\n"
                      + (f"export {own}\n" if own else "")
                      + "".join(f"printf '{MARK}\\n'\n{c.replace('/tmp/', f'{self.root}/')}\n"
                                for c in block.commands)
                      + f"printf '{MARK}\\n'\n"
                      + (f"unset {' '.join(self.block_env)}; eval \"$_docs_saved\"\n"
                         if own else "")
                      + f"unset _docs_saved; export -p > {state}.env; pwd > {state}.cwd\n")
            argv = ["bash", "-c", script]
        proc = subprocess.run(argv, cwd=self.cwd, env=self.env, text=True, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        parts = proc.stdout.split(MARK + "\n")[1:]
        if (state.with_suffix(".cwd")).exists():
            self.cwd = Path(state.with_suffix(".cwd").read_text().strip())
        shown = [p.replace(str(self.root), "/tmp").split("\n")[:-1] for p in parts]
        return [[line.rstrip() for line in s] for s in shown[:len(block.commands)]]


def write_config(root: Path, mirrors: dict[str, str]) -> Path:
    """The session's user config: ``[mirrors]`` routing canonical URLs to ``mirrors``."""
    return write_mirrors(root / "config.toml", mirrors)


def session(root: Path, index: WheelIndex,
            setups: dict[str, Callable[[Session], None]]) -> Session:
    root.mkdir(parents=True, exist_ok=True)
    config = write_config(root, index.mirrors)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLSTACK_", "UV_", "HSA_", "HIP_", "ROCR_", "PYTORCH_"))
           and k not in ("VIRTUAL_ENV", "CI", "ROCM_PATH")}
    bin_dir = str(Path(sys.executable).parent)
    env.update(PATH=bin_dir + os.pathsep + env.get("PATH", ""), MLSTACK_CONFIG=str(config),
               MLSTACK_HOME=str(root / "mlstack-home"), NO_COLOR="1", TERM="dumb",
               COLUMNS="100", HOME=str(root / "user"), LC_ALL="C.UTF-8")
    (root / "user").mkdir(exist_ok=True)
    for who in ("AUTHOR", "COMMITTER"):  # the docs' git commands
        env[f"GIT_{who}_NAME"], env[f"GIT_{who}_EMAIL"] = "docs", "docs@example.com"
    return Session(root, env, root, setups, index)


_NORMAL = [
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:B|KiB|MiB|GiB|kB|MB|GB)\b"), "<SIZE>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s)\b"), "<TIME>"),
    (re.compile(r'("seconds": )\d+(?:\.\d+)?'), r"\1<TIME>"),  # --json figures
    (re.compile(r"\b[0-9a-f]{16,64}\b"), "<HASH>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<PORT>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<DATE>"),
    (re.compile(r"/tmp/tmp[\w-]+"), "/tmp/<TMP>"),
    (re.compile(r"[ \t]+"), " "),
]


# mlstack's per-file download lines (``[2/3] downloaded NAME (…)``): parallel downloads
# finish in any order, so a run of them compares as a set, without the counter.
_FINISHED = re.compile(r"^\[\d+/(\d+)\] ")


def normal(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        text = line
        for pattern, repl in _NORMAL:
            text = pattern.sub(repl, text)
        out.append(_FINISHED.sub(r"[<N>/\1] ", text.strip()))
    while out and out[-1] == "":
        out.pop()
    return _sorted_runs(out)


def _sorted_runs(lines: list[str]) -> list[str]:
    out: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("[<N>/"):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
    return out[:-1]


def update(doc: Path, results: list[tuple[Block, list[list[str]]]]) -> None:
    """Write the real outputs into ``doc`` (blocks from the end, so indexes hold). An
    output that matches after normalising is kept as documented: a re-run changes only
    what really changed, not every time and port."""
    lines = doc.read_text(encoding="utf-8").split("\n")
    for block, outputs in reversed(results):
        body = []
        for command, want, got in zip(block.commands, block.outputs, outputs, strict=True):
            body += [f"$ {command}", *(want if normal(want) == normal(got) else got)]
        lines[block.start:block.end] = [block.indent + line if line else "" for line in body]
    doc.write_text("\n".join(lines), encoding="utf-8")


def fish_missing() -> bool:
    return shutil.which("fish") is None
