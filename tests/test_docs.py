"""Every console block of README.md and docs/*.md, run against fake machines and the
loopback index, its output compared with the documented one (tests/docsrun.py).

``MLSTACK_DOCS_UPDATE=1 pytest tests/test_docs.py`` writes the real outputs into the docs
instead (review the diff). The count of blocks run is printed at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import docsrun
from tests.docsrun import REPO, Block, Session
from tests.layoutmirror import Layout, mirrors_table, serve_static, static_mirror
from tests.wheelindex import Dist, WheelIndex, closed_port_url, serve

pytest_plugins = ["tests.wheelindex"]

UPDATE = os.environ.get("MLSTACK_DOCS_UPDATE") == "1"


def _sh(script: str) -> Callable[[Session], None]:
    """A setup that runs ``script`` in bash in the block's folder and session (quietly)."""

    def run(s: Session) -> None:
        r = subprocess.run(["bash", "-ec", script], cwd=s.cwd, env=s.env, text=True,
                           capture_output=True, check=False)
        assert r.returncode == 0, f"setup failed:\n{script}\n{r.stdout}{r.stderr}"

    return run


def _py(code: str, then: Callable[[Session], None] | None = None
        ) -> Callable[[Session], None]:
    """A setup in Python, with the repository's tests importable (lock fixtures); ``then``
    runs after it."""
    first = _sh(f"{sys.executable} - <<'PY'\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
               f"from pathlib import Path\n"
               f"from tests.envfixtures import torch_entry, write_lock\n{code}\nPY")

    def run(s: Session) -> None:
        first(s)
        if then is not None:
            then(s)

    return run


def _mirrors(table: Callable[[WheelIndex], dict[str, str]]) -> Callable[[Session], None]:
    def run(s: Session) -> None:
        assert s.index is not None
        docsrun.write_config(s.root, table(s.index))

    return run


def _publish(s: Session) -> None:
    _sh("git add -A && git commit -qm 'lock with tqdm'")(s)
    assert s.index is not None
    s.index.publish(Dist("tqdm", "4.67.2", (), requires_python=">=3.7"),
                    Dist("filelock", "3.19.1", (), requires_python=">=3.9"))


TEAM_TOML = """\
# The team's project.
default-env = "ml"
targets = ["rocm6.4:gfx1100"]

[profiles.ml]
# PEP 508 requirements
packages = [
    "torch",  # PyTorch
    "numpy",
]
"""
ROCM714_TOML = '''python = "3.12"
targets = ["rocm7.14:gfx1100"]

[profiles.ml]
packages = ["torch", "torchvision", "numpy"]
'''
PYTORCH_MIRROR_TOML = '''python = "3.12"
targets = ["rocm7.14:gfx1100"]

[profiles.ml]
packages = ["torch", "torchvision"]

[sources.amd-rocm-wheels]
enabled = false

[sources.pytorch-rocm-wheels]
enabled = true

'''
EXPORT_TOML = '''python = "3.12"
targets = ["rocm6.4:gfx1100", "cpu"]

[profiles."ml.v2"]
packages = ["torch"]
'''
SITE_TOML = '''python = "3.12"
targets = ["rocm6.4:gfx1100"]

[profiles.ml]
packages = ["torch", "numpy"]
'''


def _pypiserver(s: Session, folder: str, skip: tuple[str, ...] = ()) -> None:
    """The loopback index's files (but ``skip``) behind a mirror in pypiserver's layout
    (files under ``/packages/``, no canonical path), served for the rest of the document;
    the session's ``[mirrors]`` point at it for this block."""
    assert s.index is not None
    root = s.root / folder
    static_mirror(s.index, root, Layout("packages"), skip)
    url = s.exits.enter_context(serve_static(root))
    docsrun.write_config(s.root, mirrors_table(url))


def _pypiserver_mirror(s: Session) -> None:
    """A project to lock through a pypiserver-layout mirror."""
    _pypiserver(s, "pypiserver")
    _sh(f"cat > mlstack.toml <<'EOF'\n{SITE_TOML}EOF")(s)


def _mirror_without_numpy(s: Session) -> None:
    """The project locked from the index, then a pypiserver-layout mirror lacking numpy."""
    _sh(f"cat > mlstack.toml <<'EOF'\n{SITE_TOML}EOF\nmlstack -q lock")(s)
    _pypiserver(s, "pypiserver-no-numpy", skip=("numpy-2.3.2-py3-none-any.whl",))


def _no_squashfs_tools(s: Session) -> None:
    """A host without squashfs-tools: for this block, PATH is a folder linking every
    program of the session's PATH but mksquashfs and unsquashfs."""
    farm = s.root / "no-squashfs-tools"
    if not farm.exists():
        farm.mkdir()
        for folder in s.env["PATH"].split(os.pathsep):
            with contextlib.suppress(OSError):
                for program in Path(folder).iterdir():
                    link = farm / program.name
                    if program.name not in ("mksquashfs", "unsquashfs") \
                            and not link.exists() and not link.is_symlink():
                        link.symlink_to(program)
    s.block_env["PATH"] = str(farm)


def _held_demo(s: Session) -> None:
    """Env demo, with a command running in it (``env run``) until the document ends."""
    _sh("mlstack -q env create demo --lock mlstack.lock")(s)
    ready = s.cwd / "running"
    proc = subprocess.Popen(["mlstack", "env", "run", "demo", "--", "sh", "-c",
                             f"touch {ready}; exec sleep 600"], cwd=s.cwd, env=s.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    def stop() -> None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()

    s.exits.callback(stop)
    for _ in range(600):  # up to a minute for the interpreter to start
        if ready.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert ready.exists(), "env run demo did not start"


def _scratch(s: Session) -> None:
    """A second env on the ml profile's store entry, and a user uv configured for the
    site's index (what the real uv, run by its path, installs from)."""
    assert s.index is not None
    _sh("mlstack -q env create ml --name scratch")(s)
    config = Path(s.env["HOME"]) / ".config" / "uv" / "uv.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[pip]\nindex-url = "{s.index.url}/pypi/simple"\n')


def _down(index: WheelIndex) -> dict[str, str]:
    """The same mirrors, down: their URLs on a port where nothing listens (one server)."""
    down = closed_port_url()
    return {k: v.replace(index.url, down, 1) for k, v in index.mirrors.items()}


DEMO_LOCK = "write_lock(Path('mlstack.lock'), [torch_entry('demo', 'rocm6.4:gfx1100')])"

SETUPS: dict[str, Callable[[Session], None]] = {
    "lockfiles": _sh(f"cp -r {REPO / 'lockfiles'} lockfiles"),
    "vision-lab": _sh("[ -f mlstack.toml ] || mlstack -q init --yes; mlstack -q lock; "
                      "mlstack -q env create"),
    "train-lumi": _py("write_lock(Path('mlstack.lock'), "
                      "[torch_entry('train', 'rocm6.4:gfx1100')])\n"
            "Path('mlstack.toml').write_text('site = \"lumi\"\\n')\n"
            "import subprocess\n"
            "subprocess.run(['mlstack', '-q', 'env', 'create', 'train', '--lock', "
            "'mlstack.lock'], check=True)"),
    "rocm714-project": _sh(f"cat > mlstack.toml <<'EOF'\n{ROCM714_TOML}EOF"),
    "lock": _sh("mlstack -q lock"),
    # docs/troubleshooting.md, Hardening: an archive whose links leave DIR, a file that is
    # no archive, a project with a hostile site name and a system name apt reads as
    # "remove", and one with a 100-level dotted key (tests/test_hardening_*.py).
    "evil-archive": _py("from tests.test_hardening_archive import _escaping_links, "
                        "_manifest, _tar\n"
                        "_tar(Path('evil.tar.gz'), _manifest(links=_escaping_links("
                        "Path('v').absolute())))\n"
                        "Path('notarch.tar.gz').write_text('not an archive')"),
    "hostile-names": _sh("cat > mlstack.toml <<'EOF'\nsite = \"x\\ntouch PWN\\n#\"\n"
                         "[profiles.ml]\npackages = [\"torch\"]\nEOF\n"
                         "mkdir -p names && cat > names/mlstack.toml <<'EOF'\n"
                         "[profiles.ml]\npackages = [\"torch\", \"tqdm\"]\n"
                         "system = [\"rocm-hip-runtime\", \"zsh-\"]\nEOF"),
    "tqdm-project": _sh("cat > mlstack.toml <<'EOF'\n[profiles.ml]\n"
                        "packages = [\"torch\", \"tqdm\"]\nEOF"),
    "deep-key": _sh("printf '%s = 1\\n' \"$(printf 'k.%.0s' $(seq 100))k\" > mlstack.toml"),
    "deepspeed-project": _sh("cat > mlstack.toml <<'EOF'\npython = \"3.12\"\n"
                             "targets = [\"rocm6.4:gfx1100\"]\n\n[profiles.train]\n"
                             "packages = [\"torch\", \"deepspeed\"]\nEOF"),
    "therock-devel": _sh(f"cat > mlstack.toml <<'EOF'\n{ROCM714_TOML}EOF\n"
                         "sed -i 's/\"numpy\"]/\"numpy\", \"rocm-sdk-devel\"]/' mlstack.toml\n"
                         "mlstack -q env create ml"),
    "pytorch-mirror": _sh(f"cat > mlstack.toml <<'EOF'\n{PYTORCH_MIRROR_TOML}EOF"),
    "device-all": _sh("sed -i 's/\"torch\", \"torchvision\"/\"torch[device-all]\", "
                      "\"torchvision\"/' mlstack.toml"),
    "placeholder-profile": _sh("cat > mlstack.toml <<'EOF'\npython = \"3.12\"\n"
                               "targets = [\"rocm6.4:gfx1100\"]\n\n[profiles.ml]\n"
                               "packages = [\"torch\", \"amd-torchvision-device-gfx1100\"]\n"
                               "EOF"),
    "prompt-command-profile": _sh("cat > mlstack.toml <<'EOF'\n[profiles.ml]\n"
                                  "packages = [\"torch\"]\n\n[profiles.ml.env]\n"
                                  "PROMPT_COMMAND = \"history -a\"\nEOF"),
    "team": _sh(f"cat > mlstack.toml <<'EOF'\n{TEAM_TOML}EOF\n"
                "git init -q && git add -A && git commit -qm project"),
    "team-env": _sh("mlstack -q lock && mlstack -q env create"),
    "add-tqdm": _sh("sed -i 's/\"numpy\",/\"numpy\",\\n    \"tqdm\",/' mlstack.toml && "
                    "mlstack -q lock"),
    "scratch": _scratch,
    "pypiserver-mirror": _pypiserver_mirror,
    "ml-v2-project": _sh(f"cat > mlstack.toml <<'EOF'\n{EXPORT_TOML}EOF"),
    "numpy2": _sh("git add -A && git commit -qm lock && "
                  "sed -i 's/\"numpy\",/\"numpy>=2\",/' mlstack.toml"),
    "publish": _publish,
    "tamper-lock": _sh("[ -d .git ] || git init -q; git add -A && git commit -qm lock; "
                       "mlstack -q add torchvision; "
                       "sed -i '0,/sha256 = \"[0-9a-f]\\{8\\}/s//sha256 = \"00000000/' "
                       "mlstack.lock"),
    "foreign-url-lock": _py("Path('proj').mkdir(exist_ok=True)\n"
                            "write_lock(Path('proj/mlstack.lock'), "
                            "[torch_entry('demo', 'rocm6.4:gfx1100')])\n"
                            "p = Path('proj/mlstack.lock')\n"
                            "p.write_text(p.read_text().replace("
                            "'https://files.pythonhosted.org/', "
                            "'https://wheels.team.example/'))"),
    "demo-lock": _py(DEMO_LOCK),
    "demo-lock-ml": _py("write_lock(Path('mlstack.lock'), "
                        "[torch_entry('ml', 'rocm6.4:gfx1100')])"),
    "tampered-mirror": _mirrors(lambda index: index.tampered_mirrors),
    "index-down": _mirrors(_down),
    "mirror-switch": _py("write_lock(Path('demo.lock'), [torch_entry('demo', 'rocm6.4:gfx1100')])\n"
                         "write_lock(Path('other.lock'), [torch_entry('demo', 'rocm6.4:gfx1100', "
                         "env={'NEW_KEY': '1'})])\n"
                         "import subprocess\n"
                         "subprocess.run(['mlstack', '-q', 'env', 'create', 'demo', '--lock', "
                         "'demo.lock'], check=True)",
                         then=_mirrors(lambda index: dict.fromkeys(
                             index.mirrors, "https://mirror-b.example.com/"))),
    "python311-project": _sh("cat > mlstack.toml <<'EOF'\npython = \"3.11\"\n"
                             "targets = [\"rocm6.4:gfx1100\"]\n\n[profiles.app]\n"
                             "packages = [\"torch\"]\nEOF"),
    "slow-project": _sh("cat > mlstack.toml <<'EOF'\npython = \"3.12\"\n"
                        "[profiles.ml]\npackages = [\"torch\", \"numpy\"]\nEOF"),
    "gone-entry": _py(DEMO_LOCK + "\n"
                      "write_lock(Path('new.lock'), [torch_entry('demo', 'rocm6.4:gfx1100', "
                      "env={'DEMO': '2'})])",
                      then=_sh("mlstack -q env create demo --lock mlstack.lock && "
            "mlstack -q env create demo --lock new.lock && "
            "rm -rf \"$(readlink -f \"$MLSTACK_HOME/envs/demo/gen-1/venv\")\"")),
    "gone-current": _sh("rm -rf \"$(readlink -f \"$MLSTACK_HOME/envs/demo/gen-2/venv\")\""),
    # Blocks inside list items: a mirror that lacks a file, a host without squashfs-tools,
    # a lock with a variable an Apptainer definition cannot carry, a wheel URL outside the
    # sources, partial and altered bundles, an env a running command holds, a lock that
    # is not UTF-8.
    "mirror-without-numpy": _mirror_without_numpy,
    "no-squashfs-tools": _no_squashfs_tools,
    "note-lock": _py("write_lock(Path('mlstack.lock'), [torch_entry('train', 'rocm6.4:gfx1100', "
                     "env={'NOTE': 'x\\n%setup\\n touch /PWN #'})])"),
    "outside-url-lock": _py("write_lock(Path('mlstack.lock'), "
                            "[torch_entry('train', 'rocm6.4:gfx1100')])\n"
                            "p = Path('mlstack.lock')\n"
                            "p.write_text(p.read_text().replace("
                            "'https://download.pytorch.org/whl/rocm6.4/torch-', "
                            "'https://wheels.example.org/torch-'))\n"
                            "Path('mlstack.toml').write_text("
                            "'[profiles.train]\\npackages = [\"torch\"]\\n')"),
    "partial-bundle": _sh("rm -rf partial && mkdir partial && cp wheels/filelock-* "
                          "wheels/pytorch_triton_rocm-* partial/"),
    "altered-bundle": _py("import shutil, zipfile\n"
                          "shutil.rmtree('bad', ignore_errors=True)\n"
                          "shutil.copytree('wheels', 'bad')\n"
                          "with zipfile.ZipFile(next(Path('bad').glob('torch-*.whl')), 'a') as z:\n"
                          "    z.writestr('torch/added.py', '')"),
    "held-demo": _held_demo,
    "demo-env": _sh("mlstack -q env create demo --lock mlstack.lock"),
    "latin1-lock": _py("Path('mlstack.lock').write_bytes(b'# caf\\xe9\\n')"),
    "planted": _sh("mkdir -p elsewhere && ln -s \"$PWD/elsewhere\" "
                   "\"$MLSTACK_HOME/envs/planted\""),
}


@pytest.mark.parametrize("doc", docsrun.DOCS, ids=lambda p: p.name)
def test_console_blocks(doc: Path, warm_interpreters: None, tmp_path: Path,
                        record_property: Callable[[str, object], None]) -> None:
    # An index of the document's own: a setup publishes new releases on it.
    with serve(tmp_path / "index") as index:
        _run_doc(doc, index, tmp_path, record_property)


def _run_doc(doc: Path, index: WheelIndex, tmp_path: Path,
             record_property: Callable[[str, object], None]) -> None:
    found = docsrun.blocks(doc)
    # Every fence holding a `$` command is a console block the runner sees (a command
    # after output text would be missed).
    assert len(found) == docsrun.console_fences(doc)
    s = docsrun.session(tmp_path / "session", index, SETUPS)
    with s.exits:
        _run_blocks(doc, found, s, record_property)


def _run_blocks(doc: Path, found: list[Block], s: Session,
                record_property: Callable[[str, object], None]) -> None:
    results: list[tuple[Block, list[list[str]]]] = []
    failures: list[str] = []
    ran = skipped = 0
    for block in found:
        reason = block.directives.get("skip")
        if reason is None and block.directives.get("shell") == "fish" \
                and docsrun.fish_missing():
            reason = "fish is not installed"
        if reason is not None:
            skipped += 1
            continue
        s.apply(block)
        outputs = s.run(block)
        ran += 1
        results.append((block, outputs))
        for command, want, got in zip(block.commands, block.outputs, outputs, strict=False):
            if docsrun.normal(want) != docsrun.normal(got):
                failures.append(f"{block.where}: $ {command}\n--- documented\n"
                                + "\n".join(want) + "\n--- real\n" + "\n".join(got))
        if len(outputs) != len(block.commands):
            failures.append(f"{block.where}: ran {len(outputs)} of {len(block.commands)} "
                            "commands (one ended the shell)")
    record_property("docs_blocks", (ran, skipped))
    if UPDATE:
        docsrun.update(doc, results)
        return
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_links_between_docs_resolve() -> None:
    """Every link to a doc (and its #anchor) in README.md and docs/*.md exists."""
    broken = []
    for doc in docsrun.DOCS:
        for target, anchor in re.findall(r"\]\(([\w./-]+\.md)(?:#([\w-]+))?\)", doc.read_text()):
            path = (doc.parent / target).resolve()
            if not path.exists():
                broken.append(f"{doc.name}: {target}")
                continue
            if anchor:
                slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)}
                if anchor not in slugs:
                    broken.append(f"{doc.name}: {target}#{anchor}")
    assert broken == []


def test_docs_stand_alone() -> None:
    """User docs cite no file users do not have (the team's fact sheet, its spec)."""
    cited = [f"{doc.name}:{n}" for doc in docsrun.DOCS
             for n, line in enumerate(doc.read_text().splitlines(), 1)
             if re.search(r"ROCM-FACTS|\bSPEC(\.md)?\b", line)]
    assert cited == []


INDENTED = """\
- a list item:

  <!-- docs-test: cd=here; setup=x -->
  ```
  $ echo one
  old

  $ echo two
  two
  ```
- next item

```
$ echo top
top
```
"""


def test_indented_block_is_found_and_keeps_its_indent(tmp_path: Path) -> None:
    """A block inside a list item is a console block (with its directive), run without
    its indent; update mode writes the real output back with the indent, and the blank
    line stays blank."""
    doc = tmp_path / "doc.md"
    doc.write_text(INDENTED)
    found = docsrun.blocks(doc)
    assert len(found) == docsrun.console_fences(doc) == 2
    item, top = found
    assert (item.indent, item.directives) == ("  ", {"cd": "here", "setup": "x"})
    assert item.commands == ["echo one", "echo two"]
    assert item.outputs == [["old", ""], ["two"]]
    assert (top.indent, top.commands, top.outputs) == ("", ["echo top"], [["top"]])
    docsrun.update(doc, [(item, [["one"], ["two"]]), (top, [["top"]])])
    assert doc.read_text() == INDENTED.replace("  old\n\n", "  one\n")


def test_block_env_is_for_its_block_only(tmp_path: Path) -> None:
    """A variable a setup exports for its block (``Session.block_env``) is back to its
    earlier value in the next block, while the block's own exports carry on."""
    env = dict(os.environ, DOCS_X="before", **dict.fromkeys(docsrun.DIRECTED, "-"))
    s = Session(tmp_path, env, tmp_path, {})
    block = Block(tmp_path / "doc.md", 0, 0, {}, commands=["echo $DOCS_X $DOCS_Y"],
                  outputs=[[]])
    s.block_env = {"DOCS_X": "mine"}
    first = s.run(Block(block.doc, 0, 0, {}, commands=["echo $DOCS_X", "export DOCS_Y=y"],
                        outputs=[[], []]))
    s.block_env = {}
    assert (first, s.run(block)) == ([["mine"], []], [["before y"]])
