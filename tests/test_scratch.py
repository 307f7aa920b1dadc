from tests.envfixtures import team_lock

pytest_plugins = ["tests.wheelindex"]

def test_x(mirrored, fake_machine, tmp_path, cli):
    fake_machine("7900xtx")
    lock = team_lock(tmp_path / "mlstack.lock")
    r = cli("env", "create", "demo", "--lock", str(lock))
    print("STDOUT", r.stdout); print("STDERR", r.stderr)
    r = cli("env", "create", "demo", "--lock", str(lock), "--name", "d2", "--reinstall")
    print("STDOUT", r.stdout); print("STDERR", r.stderr)
    r = cli("-q", "env", "create", "demo", "--lock", str(lock), "--name", "d3")
    print("Q", repr(r.stdout), repr(r.stderr))
    for args in (["pip", "install", "tqdm"], ["pip", "list"], ["pip", "show", "torch"], ["pip3", "freeze"], ["pip", "--version"], ["pip", "list", "--format=json"]):
        r = cli("env", "run", "demo", "--", *args)
        print(args, r.returncode, r.stdout, r.stderr)
    r = cli("env", "verify", "demo")
    print(r.returncode, r.stdout, r.stderr)
