"""The worker process of ShmVecEnv: hosts several envs, steps them on one pipe byte.

Torch-free on purpose (env workers never import torch, SB3 or wandb): this module is what
a worker process imports to run, so it pulls in only the standard library at import time
and numpy, gymnasium and the envs' own modules once it runs.

Protocol over the worker's duplex pipe (main -> worker):
  b"s"                     step: actions are in shared memory; results go back there
  b"s" + pickle(leaves)    step, with each env's action leaves that are not in shared
                           memory (space_layout.py: Text, Graph, ... inside an action space)
  pickled (command, ...)   everything else (reset, get_attr, env_method, close, ...)
Replies (worker -> main) are one message each: b"k" + pickle(payload) when all went
well, b"e" + pickle(ErrorReport) when an env raised. An env that raises in step() or
reset() kills the worker (its state is unknown); an attribute lookup or method call
that raises is reported back and the worker keeps going, as with DummyVecEnv.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any

STEP = b"s"
OK = b"k"
ERROR = b"e"
IDLE = -1  # value of the "current env" slot while a worker steps no env

# Env vars that cap the thread pools of numerical libraries; set before they are imported.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass
class ErrorReport:
    env_index: int | None  # global env index, None if not tied to one env
    type_name: str
    message: str
    traceback: str
    fatal: bool  # the worker exits after sending it
    exception_blob: bytes | None = None  # the pickled original, when it pickles

    def original(self) -> BaseException | None:
        if self.exception_blob is None:
            return None
        try:
            return pickle.loads(self.exception_blob)
        except Exception:  # noqa: BLE001 (e.g. an exception class with a custom __init__)
            return None


@dataclass
class ArraySpec:
    name: str
    offset: int
    shape: tuple[int, ...]
    dtype: str


def array_views(buffer: Any, specs: list[ArraySpec]) -> dict[str, Any]:
    import numpy as np

    views = {}
    for spec in specs:
        count = int(np.prod(spec.shape, dtype=np.int64))
        views[spec.name] = np.frombuffer(
            buffer, dtype=np.dtype(spec.dtype), count=count, offset=spec.offset
        ).reshape(spec.shape)
    return views


def _is_wrapped(env: Any, wrapper_name: str) -> bool:
    import gymnasium as gym

    layer = env
    while isinstance(layer, gym.Wrapper):
        if any(f"{c.__module__}.{c.__qualname__}" == wrapper_name for c in type(layer).__mro__):
            return True
        layer = layer.env
    return False


class _Worker:
    def __init__(self, conn: Any, worker_index: int, first_env: int, factories: list[Any]) -> None:
        self.conn = conn
        self.worker_index = worker_index
        self.first_env = first_env
        self.factories = factories
        self.envs: list[Any] = []
        self.current: Any = None  # shared int64 slot: the env being stepped, for crash reports
        self.views: dict[str, Any] = {}  # this worker's slice of each shared array
        self.obs_layout: Any = None
        self.action_layout: Any = None
        self.rewards: Any = None
        self.dones: Any = None

    # -- replies ---------------------------------------------------------------------------

    def send_ok(self, payload: Any = None) -> None:
        self.conn.send_bytes(OK + pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))

    def send_error(self, env_index: int | None, exc: BaseException, fatal: bool) -> None:
        try:
            blob = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 (an exception that does not pickle: text only)
            blob = None
        report = ErrorReport(
            env_index=env_index,
            type_name=type(exc).__name__,
            message=str(exc),
            traceback=traceback.format_exc(),
            fatal=fatal,
            exception_blob=blob,
        )
        if fatal:  # the user's clue to what broke; the main process prints one line
            print(report.traceback, file=sys.stderr, end="", flush=True)
        try:
            self.conn.send_bytes(ERROR + pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # the main process is gone; nothing left to tell
            pass

    # -- start-up --------------------------------------------------------------------------

    def build_envs(self) -> bool:
        import gymnasium as gym

        for local, factory in enumerate(self.factories):
            try:
                env = factory()
                if not isinstance(env, gym.Env):
                    kind = type(env).__name__
                    raise TypeError(f"the env factory returned {kind}, not a gymnasium.Env")
            except BaseException as exc:  # noqa: BLE001 (reported to the main process)
                self.send_error(self.first_env + local, exc, fatal=True)
                return False
            self.envs.append(env)
        first = self.envs[0]
        self.send_ok((first.observation_space, first.action_space, os.getpid()))
        return True

    def attach(self, size: int, specs: list[ArraySpec]) -> None:
        import mmap
        from multiprocessing.reduction import recv_handle

        from rl_train.vec.space_layout import SpaceLayout

        fd = recv_handle(self.conn)
        self.memory = mmap.mmap(fd, size)
        os.close(fd)
        views = array_views(self.memory, specs)
        start, stop = self.first_env, self.first_env + len(self.envs)
        self.views = {name: view[start:stop] for name, view in views.items()}
        # Laid out as the main process lays them out: from the same spaces.
        self.obs_layout = SpaceLayout(self.envs[0].observation_space, "obs")
        self.action_layout = SpaceLayout(self.envs[0].action_space, "act")
        self.rewards = views["rewards"][start:stop]
        self.dones = views["dones"][start:stop]
        self.current = views["current"][self.worker_index : self.worker_index + 1]
        self.current[0] = IDLE

    # -- commands --------------------------------------------------------------------------

    def step(self, action_leaves: list[Any] | None = None) -> bool:
        infos: list[dict[str, Any]] = []
        reset_infos: dict[int, dict[str, Any]] = {}
        obs_leaves: list[Any] = []  # each env's observation leaves not in shared memory
        current = self.current
        for local, env in enumerate(self.envs):
            current[0] = self.first_env + local
            # A copy: the env may keep it, and the buffer is rewritten next step.
            action = self.action_layout.read(
                self.views, local, action_leaves[local] if action_leaves else None
            )
            try:
                observation, reward, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                # SB3's VecEnv API (see DummyVecEnv / SubprocVecEnv)
                info["TimeLimit.truncated"] = truncated and not terminated
                if done:
                    info["terminal_observation"] = observation
                    observation, reset_infos[local] = env.reset()
            except BaseException as exc:  # noqa: BLE001 (reported to the main process)
                self.send_error(self.first_env + local, exc, fatal=True)
                return False
            obs_leaves.append(self.obs_layout.write(self.views, local, observation))
            self.rewards[local] = reward
            self.dones[local] = done
            infos.append(info)
        current[0] = IDLE
        self.send_ok((infos, reset_infos, obs_leaves if self.obs_layout.pickled else None))
        return True

    def reset(self, seeds: list[int | None], options: list[dict]) -> bool:
        reset_infos = []
        obs_leaves: list[Any] = []
        for local, env in enumerate(self.envs):
            self.current[0] = self.first_env + local
            maybe_options = {"options": options[local]} if options[local] else {}
            try:
                observation, reset_info = env.reset(seed=seeds[local], **maybe_options)
            except BaseException as exc:  # noqa: BLE001
                self.send_error(self.first_env + local, exc, fatal=True)
                return False
            obs_leaves.append(self.obs_layout.write(self.views, local, observation))
            reset_infos.append(reset_info)
        self.current[0] = IDLE
        self.send_ok((reset_infos, obs_leaves if self.obs_layout.pickled else None))
        return True

    def per_env(self, locals_: list[int], call: Any) -> None:
        """Run call(env) for some envs; an exception goes back to the caller, not fatal."""
        results = []
        for local in locals_:
            try:
                results.append(call(self.envs[local]))
            except Exception as exc:  # noqa: BLE001
                self.send_error(self.first_env + local, exc, fatal=False)
                return
        self.send_ok(results)

    def handle(self, command: tuple) -> bool:
        """Run one pickled command; False when the worker should exit."""
        name, args = command[0], command[1:]
        if name == "reset":
            return self.reset(*args)
        if name == "get_attr":
            attr, locals_ = args
            self.per_env(locals_, lambda env: env.get_wrapper_attr(attr))
        elif name == "set_attr":
            attr, value, locals_ = args
            self.per_env(locals_, lambda env: setattr(env, attr, value))
        elif name == "env_method":
            method, m_args, m_kwargs, locals_ = args
            self.per_env(locals_, lambda env: env.get_wrapper_attr(method)(*m_args, **m_kwargs))
        elif name == "is_wrapped":
            wrapper_name, locals_ = args
            self.per_env(locals_, lambda env: _is_wrapped(env, wrapper_name))
        elif name == "render":
            (locals_,) = args
            self.per_env(locals_, lambda env: env.render())
        elif name == "close":
            self.close_envs()
            self.send_ok()
            return False
        else:
            self.send_error(None, ValueError(f"unknown worker command {name!r}"), fatal=False)
        return True

    def close_envs(self) -> None:
        for env in self.envs:
            try:
                env.close()
            except Exception:  # noqa: BLE001 (closing is best effort)
                traceback.print_exc()
        self.envs = []

    def serve(self) -> None:
        conn = self.conn
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):  # the main process is gone
                return
            if message == STEP:
                alive = self.step()
            elif message[:1] == STEP:  # pickles start with b"\x80", never b"s"
                alive = self.step(pickle.loads(message[1:]))
            else:
                alive = self.handle(pickle.loads(message))
            if not alive:
                return


def schedule_as_batch_work(core: int | None) -> None:
    """SCHED_BATCH, and pinned to `core` when given (best effort: some sandboxes forbid it).

    The learner wakes every worker with one pipe write each; a woken worker of normal
    policy may preempt the learner before it has written to the next one, which then
    starts late. A SCHED_BATCH process never preempts on wake-up, so all workers start
    together. Pinning (only when each worker has a core of its own) keeps a worker's
    caches warm and keeps it off the learner's core. Measured: docs/throughput.md.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        if core is not None:
            os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):  # not Linux, or not allowed here
        pass


def run(
    conn: Any, worker_index: int, first_env: int, factories_blob: bytes, core: int | None = None
) -> None:
    """Process entry point: build the envs, report spaces, map shared memory, serve."""
    for name in THREAD_ENV_VARS:
        os.environ[name] = "1"  # one thread per worker: the workers already fill the cores
    # Ctrl-C reaches the whole process group; only the main process decides to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # What envs print (pybullet's C code prints its argv) belongs on stderr: the trainer's
    # stdout is for its own output, `rl-train eval --json` for one.
    sys.stdout.flush()
    os.dup2(2, 1)
    schedule_as_batch_work(core)

    worker = _Worker(conn, worker_index, first_env, [])
    try:
        try:
            worker.factories = pickle.loads(factories_blob)
        except BaseException as exc:  # noqa: BLE001 (e.g. the env's module does not import)
            worker.send_error(first_env, exc, fatal=True)
            return
        if not worker.build_envs():
            return
        try:
            command = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if command[0] != "attach":
            return
        worker.attach(*command[1:])
        worker.send_ok()
        worker.serve()
    except KeyboardInterrupt:
        pass
    finally:
        if worker.envs:
            worker.close_envs()
        try:
            conn.close()
        except OSError:
            pass
