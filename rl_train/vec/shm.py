"""ShmVecEnv: SB3's VecEnv with several envs per worker process, over shared memory.

SB3's SubprocVecEnv runs one process per env and pickles every observation through a
pipe: with 16 envs on 2 cores most of the time goes to process switches and pickling.
Here each worker hosts a contiguous slice of the envs (n_envs split over n_workers,
default one worker per usable core). Actions, observations, rewards and dones live in
one shared-memory block; a step is one byte to each worker and one small reply back
(the step's info dicts, pickled once per worker). Auto-reset, `terminal_observation`,
`TimeLimit.truncated`, seeding and reset options behave exactly as in DummyVecEnv /
SubprocVecEnv, so VecMonitor and VecNormalize on top are unchanged.

A worker that dies (an env raised, or the process was killed or segfaulted) or stops
answering raises EnvWorkerError naming the env and the cause; the env vec is then
broken and close() ends the remaining workers.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing as mp
import os
import pickle
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from multiprocessing import spawn
from multiprocessing.connection import wait
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from rl_train.machine import usable_cores
from rl_train.vec import forkserver, shm_worker
from rl_train.vec.failures import EnvWorkerError, signal_name
from rl_train.vec.shm_worker import ERROR, IDLE, OK, STEP, ArraySpec, ErrorReport
from rl_train.vec.space_layout import SpaceLayout

ALIGN = 64  # bytes; keeps every array on its own cache line
POLL_S = 1.0  # liveness is checked at least this often while waiting for workers


@contextlib.contextmanager
def _main_module_not_imported():
    """Start processes that do not re-import the parent's __main__ module.

    multiprocessing's forkserver and spawn children import the parent's main script (as
    __mp_main__) so that functions defined there unpickle; a training or benchmark script
    imports torch at the top, so every worker would too (seconds of start-up, hundreds of
    MB each). Our workers never need it: env constructors travel by cloudpickle, which
    pickles what lives in __main__ by value.
    """
    original = spawn.get_preparation_data

    def preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
        return data

    spawn.get_preparation_data = preparation_data
    try:
        yield
    finally:
        spawn.get_preparation_data = original


def split_envs(n_envs: int, n_workers: int) -> list[range]:
    """Contiguous env slices, sizes differing by at most one (first workers get more)."""
    n_workers = max(1, min(n_workers, n_envs))
    base, extra = divmod(n_envs, n_workers)
    slices, start = [], 0
    for worker in range(n_workers):
        stop = start + base + (1 if worker < extra else 0)
        slices.append(range(start, stop))
        start = stop
    return slices


def worker_cores(n_workers: int) -> list[int | None]:
    """The core each worker is pinned to: one each when the workers take every core this
    process may use (the default), else none (the scheduler spreads them among the rest
    of the machine's work)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return [None] * n_workers
    if len(allowed) != n_workers:
        return [None] * n_workers
    return list(allowed)


def _anonymous_memory(size: int) -> int:
    """A file descriptor of `size` bytes of shared memory that vanishes with its last user."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("rl-train-shm-vec-env", os.MFD_CLOEXEC)
    else:  # not Linux: an unlinked temporary file, in RAM where the system has /dev/shm
        directory = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, path = tempfile.mkstemp(prefix="rl-train-shm-", dir=directory)
        os.unlink(path)
    os.ftruncate(fd, size)
    return fd


class ShmVecEnv(VecEnv):
    """Vectorized env: `n_workers` processes, each stepping a slice of the envs in turn.

    :param env_fns: one constructor per env (picklable with cloudpickle), run in the workers
    :param n_workers: worker processes (default: the usable cores; at most len(env_fns))
    :param start_method: "forkserver" (default where available) or "spawn"; never "fork",
        which would copy the learner's torch threads and locks into the workers
    :param timeout: seconds a worker may take to answer one command before it counts as hung
    :param startup_timeout: seconds the workers may take to build their envs
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        n_workers: int | None = None,
        start_method: str | None = None,
        timeout: float = 600.0,
        startup_timeout: float = 300.0,
    ) -> None:
        if not env_fns:
            raise ValueError("ShmVecEnv needs at least one env constructor")
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        if start_method == "fork":
            raise ValueError("ShmVecEnv workers must not be forked; use forkserver or spawn")
        self.start_method = start_method
        n_envs = len(env_fns)
        self.slices = split_envs(n_envs, n_workers or usable_cores())
        self.n_workers = len(self.slices)
        self.timeout = timeout
        self.closed = False
        self.waiting = False
        self._broken: EnvWorkerError | None = None
        self._memory: mmap.mmap | None = None
        self._current: np.ndarray | None = None
        self.processes: list[Any] = []
        self.remotes: list[Any] = []
        self._worker_of_env = np.repeat(
            np.arange(self.n_workers), [len(s) for s in self.slices]
        ).tolist()

        if start_method == "forkserver":
            forkserver.configure()  # workers forked with their imports done (forkserver.py)
        ctx = mp.get_context(start_method)
        try:
            # All workers start before any is waited for: they build their envs in parallel.
            cores = worker_cores(self.n_workers)
            for worker, envs in enumerate(self.slices):
                blob = cloudpickle.dumps([env_fns[i] for i in envs])
                parent_conn, child_conn = ctx.Pipe(duplex=True)
                process = ctx.Process(
                    target=shm_worker.run,
                    args=(child_conn, worker, envs.start, blob, cores[worker]),
                    name=f"ShmVecEnv-worker-{worker}",
                    daemon=True,  # a crashed main process must not leave workers behind
                )
                self.processes.append(process)
                self.remotes.append(parent_conn)
                with _main_module_not_imported():
                    process.start()
                child_conn.close()
            ready = self._receive(range(self.n_workers), startup_timeout, "build its envs")
            observation_space, action_space, _pid = ready[0]
            for worker in range(1, self.n_workers):
                if ready[worker][0] != observation_space or ready[worker][1] != action_space:
                    raise ValueError(
                        f"envs {self.slices[worker].start}.. have other observation or action "
                        "spaces than env 0; ShmVecEnv needs the same spaces for all envs"
                    )
            self._attach_shared_memory(n_envs, observation_space, action_space, startup_timeout)
        except BaseException:
            self._kill_workers()
            raise
        super().__init__(n_envs, observation_space, action_space)

    # -- shared memory -----------------------------------------------------------------------

    def _attach_shared_memory(
        self, n_envs: int, observation_space: gym.Space, action_space: gym.Space, timeout: float
    ) -> None:
        from multiprocessing.reduction import send_handle

        self._obs_layout = SpaceLayout(observation_space, "obs")
        self._action_layout = SpaceLayout(action_space, "act")
        arrays = self._obs_layout.specs(n_envs) + self._action_layout.specs(n_envs)
        arrays += [
            ("rewards", (n_envs,), np.dtype(np.float32)),  # as DummyVecEnv
            ("dones", (n_envs,), np.dtype(bool)),
            ("current", (self.n_workers,), np.dtype(np.int64)),
        ]
        specs, offset = [], 0
        for name, shape, dtype in arrays:
            specs.append(ArraySpec(name, offset, tuple(int(n) for n in shape), dtype.str))
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            offset += -(-max(nbytes, 1) // ALIGN) * ALIGN
        size = max(offset, ALIGN)

        fd = _anonymous_memory(size)
        try:
            self._memory = mmap.mmap(fd, size)
            for worker, conn in enumerate(self.remotes):
                conn.send_bytes(pickle.dumps(("attach", size, specs)))
                try:
                    send_handle(conn, fd, self.processes[worker].pid)
                except OSError:
                    self._raise_dead(worker)
        finally:
            os.close(fd)
        views = shm_worker.array_views(self._memory, specs)
        self._views = views
        self._rewards = views["rewards"]
        self._dones = views["dones"]
        self._current = views["current"]
        self._receive(range(self.n_workers), timeout, "map the shared memory")

    # -- talking to workers ------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise EnvWorkerError(
                f"{self._broken} (the envs are unusable since)",
                self._broken.env_index,
                self._broken.cause,
            )
        if self.closed:
            raise RuntimeError("ShmVecEnv is closed")

    def _send(self, worker: int, message: bytes) -> None:
        try:
            self.remotes[worker].send_bytes(message)
        except OSError:  # BrokenPipeError, ConnectionResetError: the worker is gone
            self._raise_dead(worker)

    def _receive(
        self, workers: Sequence[int] | range, timeout: float | None = None, doing: str = "step"
    ) -> dict[int, Any]:
        """One reply from each worker; raise EnvWorkerError if any dies or hangs.

        Waits on the pipes and on the processes' sentinels together, so a dead worker is
        noticed at once, not after a timeout.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pending = {self.remotes[w]: w for w in workers}
        sentinels = {self.processes[w].sentinel: w for w in workers}
        replies: dict[int, Any] = {}
        failure: ErrorReport | None = None
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._raise_hung(next(iter(pending.values())), timeout, doing)
            waiting_on = list(pending)
            waiting_on += [s for s, w in sentinels.items() if self.remotes[w] in pending]
            ready = wait(waiting_on, timeout=min(remaining, POLL_S))
            for obj in ready:
                if obj not in pending:
                    continue
                worker = pending.pop(obj)
                try:
                    message = obj.recv_bytes()
                except (EOFError, OSError):
                    self._raise_dead(worker)
                if message[:1] == OK:
                    replies[worker] = pickle.loads(message[1:])
                elif message[:1] == ERROR:
                    report: ErrorReport = pickle.loads(message[1:])
                    if report.fatal:
                        self._raise_env_error(worker, report)
                    failure = failure or report
                    replies[worker] = None
                else:
                    raise EnvWorkerError(f"env worker {worker} sent an unknown reply")
            for obj in ready:
                worker = sentinels.get(obj)
                if worker is not None and self.remotes[worker] in pending:
                    if not self.remotes[worker].poll(0):  # died without a last word
                        self._raise_dead(worker)
        if failure is not None:
            original = failure.original()
            if original is not None:
                raise original
            raise RuntimeError(f"env {failure.env_index}: {failure.type_name}: {failure.message}")
        return replies

    def _break(self, error: EnvWorkerError) -> EnvWorkerError:
        self._broken = error
        self.waiting = False
        return error

    def _envs_text(self, worker: int) -> str:
        envs = self.slices[worker]
        return f"env {envs.start}" if len(envs) == 1 else f"envs {envs.start}-{envs.stop - 1}"

    def _stepping(self, worker: int) -> int | None:
        """The env the worker was inside when it died or hung (None: between commands)."""
        if self._current is None:
            return self.slices[worker].start if len(self.slices[worker]) == 1 else None
        env = int(self._current[worker])
        return None if env == IDLE else env

    def _raise_env_error(self, worker: int, report: ErrorReport) -> None:
        env = report.env_index
        who = f"env {env}" if env is not None else f"worker {worker} ({self._envs_text(worker)})"
        cause = f"{report.type_name}: {report.message}" if report.message else report.type_name
        raise self._break(
            EnvWorkerError(
                f"env worker died: {who} raised an exception, {cause}",
                env,
                cause,
                report.traceback,
            )
        )

    def _raise_dead(self, worker: int) -> None:
        process = self.processes[worker]
        process.join(timeout=5.0)
        code = process.exitcode
        env = self._stepping(worker)
        if code is not None and code < 0:
            cause = f"killed by {signal_name(-code)}"
            what = f"was {cause}"
        elif code is None:
            cause = "closed its pipe"
            what = cause
        else:
            cause = f"exited with code {code}"
            what = cause
        who = f"env {env}" if env is not None else f"the worker of {self._envs_text(worker)}"
        raise self._break(EnvWorkerError(f"env worker died: {who} {what}", env, cause))

    def _raise_hung(self, worker: int, timeout: float, doing: str) -> None:
        env = self._stepping(worker)
        who = f"env {env}" if env is not None else f"the worker of {self._envs_text(worker)}"
        cause = f"no answer within {timeout:g} s"
        raise self._break(
            EnvWorkerError(f"env worker hung: {who} did not {doing} ({cause})", env, cause)
        )

    def _targets(self, indices: VecEnvIndices) -> tuple[list[int], dict[int, list[int]]]:
        """Requested env indices, and per worker the local indices it must serve."""
        envs = []
        for index in self._get_indices(indices):
            # As SB3's vec envs index their list of envs: -1 is the last one.
            if not -self.num_envs <= int(index) < self.num_envs:
                raise IndexError(f"env index {index} out of range for {self.num_envs} envs")
            envs.append(int(index) % self.num_envs)
        per_worker: dict[int, list[int]] = {}
        for env in envs:
            worker = self._worker_of_env[env]
            per_worker.setdefault(worker, []).append(env - self.slices[worker].start)
        return envs, per_worker

    def _per_env(self, command: str, indices: VecEnvIndices, *args: Any) -> list[Any]:
        self._check_usable()
        envs, per_worker = self._targets(indices)
        for worker, locals_ in per_worker.items():
            self._send(worker, pickle.dumps((command, *args, locals_)))
        replies = self._receive(list(per_worker))
        cursor = dict.fromkeys(per_worker, 0)
        results = []
        for env in envs:
            worker = self._worker_of_env[env]
            results.append(replies[worker][cursor[worker]])
            cursor[worker] += 1
        return results

    def _obs_copy(self, leaves: list[list[Any] | None] | None) -> VecEnvObs:
        """The observations, batched; `leaves`: each env's pickled observation leaves."""
        return self._obs_layout.batch(self._views, leaves or [])

    def _obs_leaves(self, per_worker: dict[int, list[Any] | None]) -> list[Any] | None:
        if not self._obs_layout.pickled:
            return None
        return [leaves for worker in range(self.n_workers) for leaves in per_worker[worker]]

    # -- VecEnv API --------------------------------------------------------------------------

    def step_async(self, actions: Any) -> None:
        self._check_usable()
        layout = self._action_layout
        if layout.flat:
            view = self._views[layout.flat]
            view[...] = np.asarray(actions).reshape(view.shape)
            messages = [STEP] * self.n_workers
        else:  # a Dict or Tuple (or a leaf not in shared memory): env by env
            leaves = [
                layout.write(self._views, i, a)
                for i, a in enumerate(layout.per_env(actions, self.num_envs))
            ]
            messages = [
                STEP + pickle.dumps([leaves[i] for i in envs]) if layout.pickled else STEP
                for envs in self.slices
            ]
        for worker in range(self.n_workers):
            self._send(worker, messages[worker])
        self.waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        self._check_usable()
        replies = self._receive(range(self.n_workers))
        self.waiting = False
        infos: list[dict[str, Any]] = []
        for worker in range(self.n_workers):
            worker_infos, reset_infos, _ = replies[worker]
            infos.extend(worker_infos)
            start = self.slices[worker].start
            for local, reset_info in reset_infos.items():
                self.reset_infos[start + local] = reset_info
        leaves = self._obs_leaves({w: reply[2] for w, reply in replies.items()})
        return self._obs_copy(leaves), self._rewards.copy(), self._dones.copy(), infos

    def reset(self) -> VecEnvObs:
        self._check_usable()
        if self.waiting:  # a step in flight is cancelled: collect and drop its results
            self._receive(range(self.n_workers))
            self.waiting = False
        for worker, envs in enumerate(self.slices):
            seeds = [self._seeds[i] for i in envs]
            options = [self._options[i] for i in envs]
            self._send(worker, pickle.dumps(("reset", seeds, options)))
        replies = self._receive(range(self.n_workers), doing="reset")
        for worker, envs in enumerate(self.slices):
            for env, reset_info in zip(envs, replies[worker][0], strict=True):
                self.reset_infos[env] = reset_info
        self._reset_seeds()
        self._reset_options()
        return self._obs_copy(self._obs_leaves({w: reply[1] for w, reply in replies.items()}))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._broken is None:
            try:
                if self.waiting:
                    self._receive(range(self.n_workers), timeout=10.0)
                for worker in range(self.n_workers):
                    self._send(worker, pickle.dumps(("close",)))
                self._receive(range(self.n_workers), timeout=10.0, doing="close its envs")
            except (EnvWorkerError, OSError):
                pass
        self._kill_workers()

    def _kill_workers(self) -> None:
        """Join the workers; end the ones that do not exit; release pipes and memory."""
        for process in self.processes:
            if process.pid is not None:
                process.join(timeout=5.0 if self._broken is None and self.closed else 0.0)
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                process.terminate()
                process.join(timeout=2.0)
            if process.pid is not None and process.exitcode is None:
                process.kill()
                process.join(timeout=2.0)
        for conn in self.remotes:
            conn.close()
        self.remotes = []
        self._release_memory()
        self.closed = True

    def _release_memory(self) -> None:
        if self._memory is None:
            return
        self._views, self._rewards, self._dones = {}, None, None
        self._current = None
        try:
            self._memory.close()
        except BufferError:  # a caller still holds a view into it; the GC frees it later
            pass
        self._memory = None

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but this method assumes it is "
                "`rgb_array` to obtain images.",
                stacklevel=2,
            )
            return [None for _ in range(self.num_envs)]
        return self._per_env("render", None)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._per_env("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._per_env("set_attr", indices, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        return self._per_env("env_method", indices, method_name, method_args, method_kwargs)

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        # By name: unpickling e.g. SB3's Monitor in a worker would import torch there.
        name = f"{wrapper_class.__module__}.{wrapper_class.__qualname__}"
        return self._per_env("is_wrapped", indices, name)
