"""The one-line summary (``mlstack --help`` lists it, never cut) and the examples at the
end of each command's ``--help``, by command path. :func:`apply` puts them on the click
command tree; a test checks that every command has an example."""

from __future__ import annotations

from typing import Any

# path -> (summary for the parent's command list, examples for the command's own help)
HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "detect": ("GPUs, gfx, ROCm, distro and the target they imply.",
               ("mlstack detect", "mlstack detect --json")),
    "profile": ("List and show profiles.",
                ("mlstack profile list", "mlstack profile show inference")),
    "profile list": ("The built-in profiles and the project's.",
                     ("mlstack profile list", "mlstack profile list --json")),
    "profile show": ("One profile, extends applied.", ("mlstack profile show training",)),
    "lock": ("Resolve profiles x targets into mlstack.lock.",
             ("mlstack lock", "mlstack lock inference --target rocm6.4:gfx1100",
              "mlstack lock --check", "mlstack lock --upgrade-package transformers")),
    "add": ("Add packages to a profile; re-lock, update the env.",
            ("mlstack add tqdm", "mlstack add 'transformers>=4.50' --profile serve")),
    "remove": ("Remove packages from a profile; re-lock.",
               ("mlstack remove tqdm", "mlstack remove wandb --profile train")),
    "env": ("Create, inspect, verify and use envs.",
            ("mlstack env create minimal", "mlstack env list",
             "mlstack env run minimal -- python -c 'import torch'")),
    "env create": ("Build an env from a lock entry.",
                   ("mlstack env create minimal",
                    "mlstack env create --lock mlstack.lock",
                    "mlstack env create inference --name serve --target rocm6.4:gfx1100")),
    "env list": ("The envs.", ("mlstack env list", "mlstack env list --json")),
    "env info": ("An env's generation, fingerprint, variables.",
                 ("mlstack env info minimal",)),
    "env remove": ("Remove an env (gc frees its store entry).",
                   ("mlstack env remove minimal", "mlstack gc")),
    "env export": ("Print an env's lock, for sharing.",
                   ("mlstack env export minimal -o minimal.lock",)),
    "env verify": ("Installed files against RECORD hashes.",
                   ("mlstack env verify minimal",)),
    "env rollback": ("Back to the previous generation.", ("mlstack env rollback minimal",)),
    "env activate": ("Print an activation script, for eval.",
                     ('eval "$(mlstack env activate minimal)"',
                      "mlstack env activate minimal --shell fish | source")),
    "env shell": ("A shell with the env active.", ("mlstack env shell minimal",)),
    "env run": ("Run one command in an env.",
                ("mlstack env run minimal -- python train.py",)),
    "bundle": ("A lock's wheels in a folder, for offline use.",
               ("mlstack bundle --lock mlstack.lock -o wheels/",
                "mlstack env create --lock mlstack.lock --wheels wheels/ --offline")),
    "gc": ("Free store entries no env uses.", ("mlstack gc --dry-run", "mlstack gc")),
    "doctor": ("What is wrong with this machine or env.",
               ("mlstack doctor", "mlstack doctor --env minimal")),
    "system": ("System packages a lock expects.",
               ("mlstack system check --env minimal", "mlstack system plan --env minimal")),
    "system check": ("Which expected system packages are installed.",
                     ("mlstack system check --lock mlstack.lock",)),
    "system plan": ("Commands that would install the missing ones.",
                    ("mlstack system plan --env minimal",)),
    "system apply": ("Run the plan (sudo when not root).",
                     ("mlstack system apply --env minimal --yes",)),
    "init": ("Write mlstack.toml for this folder.",
             ("mlstack init", "mlstack init --yes --with transformers,vllm",
              "mlstack init --yes --target rocm6.4:gfx1100 --target rocm7.0:gfx942")),
    "diff": ("What changed between two locks.",
             ("mlstack diff", "mlstack diff origin/main", "mlstack diff old.lock new.lock --json")),
    "tree": ("An env's packages, sizes and why each is there.",
             ("mlstack tree", "mlstack tree minimal --json",
              "mlstack tree --lock mlstack.lock --profile inference --target rocm6.4:gfx1100")),
    "sync": ("Create or update the project's default env from the lock.",
             ("mlstack sync", "mlstack sync --locked", "mlstack sync --frozen --offline")),
    "run": ("Run one command in an env (short for env run).",
            ("mlstack run -- python train.py", "mlstack run inference -- vllm serve MODEL")),
    "shell": ("A shell with an env active (short for env shell).",
              ("mlstack shell", "mlstack shell training")),
    "cache": ("The download caches under MLSTACK_HOME (mlstack's and uv's).",
              ("mlstack cache prune", "mlstack cache clean")),
    "cache clean": ("Empty the download caches.", ("mlstack cache clean",)),
    "cache prune": ("Drop partial and unused downloads.", ("mlstack cache prune",)),
    "export": ("A Dockerfile or Apptainer recipe for an env.",
               ("mlstack export docker demo -o build/Dockerfile",
                "mlstack export apptainer --lock mlstack.lock --profile training -o train.def")),
    "env pack": ("An env as one relocatable archive.",
                 ("mlstack env pack training -o training.tar.zst",)),
    "env unpack": ("Unpack an archive at DIR and register it.",
                   ("mlstack env unpack training.tar.zst /mnt/nvme/training",)),
    "completion": ("Print a shell completion script.",
                   ('eval "$(mlstack completion bash)"   # in ~/.bashrc',
                    'eval "$(mlstack completion zsh)"    # in ~/.zshrc, after compinit',
                    "mlstack completion fish > ~/.config/fish/completions/mlstack.fish")),
}


def epilog(examples: tuple[str, ...]) -> str:
    # "\b" keeps click from re-wrapping the block.
    label = "Example" if len(examples) == 1 else "Examples"
    return f"{label}:\n\n\b\n" + "\n".join(f"  {e}" for e in examples)


def apply(command: Any, path: tuple[str, ...] = ()) -> None:
    """Set ``short_help`` and ``epilog`` on ``command``'s subcommands, recursively, and
    name every argument the same way in usage lines."""
    for name, sub in (getattr(command, "commands", None) or {}).items():
        sub_path = (*path, name)
        found = HELP.get(" ".join(sub_path))
        if found is not None:
            sub.short_help = found[0]
            if not sub.epilog:
                sub.epilog = epilog(found[1])
        for param in sub.params:
            if param.param_type_name == "argument":
                _plain_metavar(param)
        apply(sub, sub_path)


def _plain_metavar(param: Any) -> None:
    """``NAME`` when required, ``[NAME]`` when not, ``…...`` when repeated: typer writes a
    required one as ``{name}`` and keeps the parameter's lower-case name."""
    base = (param.metavar or param.name or "").strip("[]{}.").upper()
    text = base if param.required else f"[{base}]"
    if param.nargs == -1:
        text += "..."
    param.metavar = text

    def make_metavar(ctx: Any = None, *, usage: bool = False) -> str:
        return text

    param.make_metavar = make_metavar
