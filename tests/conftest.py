"""Shared test helpers: run the real `rl-train` CLI, find its outputs, reach the W&B server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The tests' own user config folder (`rl-train config`), empty: a developer's
# ~/.config/rl-train/config.yaml must not change what the tests see.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="rl-train-tests-config-")


# benchmarks/ is scripts and the library they share (benchlib): importable as a script
# run imports them.
if str(REPO / "benchmarks") not in sys.path:
    sys.path.append(str(REPO / "benchmarks"))


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module of its own name + "_benchmark" (not to shadow a
    module of that name)."""
    module_name = f"{name}_benchmark"
    spec = importlib.util.spec_from_file_location(module_name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses in the module look themselves up here
    spec.loader.exec_module(module)
    return module


def cli_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WANDB_MODE", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("WANDB_SILENT", "true")
    env.update(overrides)
    return env


CLI = [sys.executable, "-m", "rl_train.cli"]  # `rl-train`, from this checkout


def run_cli(
    args: list[str],
    cwd: Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """The real command line, in a subprocess, as a user would run it."""
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env or cli_env(), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def start_cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    own_group: bool = False,
    **popen,
) -> subprocess.Popen:
    """The real command line started in the background (stdout and stderr piped unless
    given), text mode. own_group: a process group of its own, as a terminal's foreground
    job, so that a signal to the group is what Ctrl-C in a terminal does."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    popen.setdefault("text", True)
    return subprocess.Popen(
        [*CLI, *args], cwd=cwd, env=env or cli_env(), start_new_session=own_group, **popen
    )


def env_with_test_modules(**overrides: str) -> dict[str, str]:
    """The CLI's environment with tests/ importable: `--env module:EnvId` of a test's env."""
    return cli_env(PYTHONPATH=f"{REPO}:{REPO / 'tests'}", **overrides)


def train_test_env(cwd: Path, env_id: str, hyperparams: str, *args: str):
    """A short disabled-mode run `d` under cwd/runs of a test's own env id, its
    hyperparameters in cwd/hp.yml: (process, environment for later commands)."""
    (cwd / "hp.yml").write_text(hyperparams)
    env = env_with_test_modules()
    done = run_cli(
        ["--env", env_id, "--config", "hp.yml", "--wandb-mode", "disabled", "--run-name", "d",
         "--output-dir", "runs", *args],
        cwd=cwd,
        env=env,
    )  # fmt: skip
    return done, env


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The one line a refused command prints (and its non-zero exit, no traceback)."""
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("rl-train") and "error:" in lines[0], lines[0]
    return lines[0]


def run_python(code: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh interpreter with the CLI's environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main_without_wandb(
    args: list[str], cwd: Path, code: int = 0, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`rl-train ARGS` through main() in a fresh interpreter that fails unless main returns
    `code` and wandb was never imported; `environ` is set before rl_train is imported."""
    script = (
        "import os, sys\n"
        f"os.environ.update({environ or {}!r})\n"
        "from rl_train.cli.main import main\n"
        f"code = main({args!r})\n"
        f"assert code == {code}, code\n"
        "assert 'wandb' not in sys.modules, 'wandb was imported'\n"
    )
    return run_python(script, cwd=cwd)


def only_run_dir(output_dir: Path) -> Path:
    runs = [p for p in output_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def wandb_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("wandb/*run-*/run-*.wandb"))


def finished_offline_run(cwd: Path, args: list[str]):
    """A real offline run under cwd/runs that must succeed: (process, run dir, its W&B log)."""
    from rl_train.store import wandb_txlog

    done = run_cli([*args, "--wandb-mode", "offline", "--output-dir", "runs"], cwd=cwd)
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(cwd / "runs")
    (log_file,) = wandb_files(run_dir)
    return done, run_dir, wandb_txlog.read_run(log_file)


@pytest.fixture
def wandb_server() -> str:
    """The W&B-protocol server CI starts on loopback; skipped locally without one."""
    base_url = os.environ.get("WANDB_BASE_URL", "")
    required = os.environ.get("RL_TRAIN_REQUIRE_ONLINE") == "1"
    if not base_url or not os.environ.get("WANDB_API_KEY"):
        if required:
            pytest.fail("RL_TRAIN_REQUIRE_ONLINE=1 but WANDB_BASE_URL/WANDB_API_KEY are unset")
        pytest.skip("no W&B server configured (set WANDB_BASE_URL and WANDB_API_KEY)")
    return base_url.rstrip("/")


def server_get(base_url: str, path: str) -> dict:
    """Read the server's REST API (openwandb's, which CI runs)."""
    with urllib.request.urlopen(f"{base_url}{path}", timeout=10) as response:
        return json.load(response)


# ---------------------------------------------------------------- a server of the test's own

OPENWANDB = Path(os.environ.get("TMPDIR", "/tmp")) / "rl-train-openwandb-venv" / "bin" / "openwandb"


def free_loopback_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnServer:
    """openwandb on a free loopback port, in the virtualenv CI installs it in (.ci/run);
    a test stops it mid-run and starts it again on the same data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = ""
        self.process: subprocess.Popen | None = None
        subprocess.run(
            [str(OPENWANDB), "init", "--data-dir", str(data_dir)],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        import re
        import time

        log = self.data_dir.parent / f"server-{self.port}.log"
        self.process = subprocess.Popen(
            [str(OPENWANDB), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + ["--data-dir", str(self.data_dir)],
            stdout=open(log, "ab"),  # noqa: SIM115 (the server owns it until it ends)
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text()
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        found = re.findall(r"WANDB_API_KEY=([A-Za-z0-9_-]+)", log.read_text())
        assert found, log.read_text()
        self.api_key = found[-1]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def env(self, **overrides: str) -> dict[str, str]:
        return cli_env(WANDB_BASE_URL=self.url, WANDB_API_KEY=self.api_key, **overrides)


@pytest.fixture
def own_server(tmp_path):
    """A started OwnServer; skipped without openwandb installed (failed in CI)."""
    if not OPENWANDB.exists():
        if os.environ.get("RL_TRAIN_REQUIRE_ONLINE") == "1":
            pytest.fail(f"RL_TRAIN_REQUIRE_ONLINE=1 but {OPENWANDB} is not installed")
        pytest.skip(f"no {OPENWANDB} (see .ci/run for how CI installs it)")
    server = OwnServer(tmp_path / "server")
    server.start()
    yield server
    server.stop()


def run_processes(root_pid: int, run_dir: Path) -> set[int]:
    """The live processes of a run: the trainer's descendants (the logging process,
    wandb-core, env workers) and any process whose command line names the run dir."""
    import psutil

    found = set()
    try:
        found.update(p.pid for p in psutil.Process(root_pid).children(recursive=True))
    except psutil.Error:
        pass
    marker = str(run_dir.resolve())
    for process in psutil.process_iter(["pid", "cmdline"]):
        if marker in " ".join(process.info["cmdline"] or []):
            found.add(process.info["pid"])
    found.discard(root_pid)
    return found


def alive(pids: set[int]) -> set[int]:
    import psutil

    living = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.add(pid)
        except psutil.Error:
            pass
    return living
