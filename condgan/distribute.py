"""tf.distribute strategies for training: one device, all local devices, or several workers.

`make_strategy(name)` builds the strategy `condgan.config.TrainConfig.strategy`
names:

- "default": TensorFlow's default strategy (one device, no replication).
- "mirrored": `tf.distribute.MirroredStrategy` over the local devices (every
  GPU, or the CPU if there is none); one replica per device.
- "multi_worker": `tf.distribute.MultiWorkerMirroredStrategy` over the
  cluster the `TF_CONFIG` environment variable describes (JSON with "cluster"
  and "task"; every worker runs the same program with its own "task").

What makes a step correct under replication lives with the step: the Trainer
and `CondGAN.train_step` scale every loss by 1 / num_replicas_in_sync (the
gradients are summed over replicas), the batch-coupled terms (contrastive,
mode seeking, mismatched captions) see the global batch, the random draws are
per replica (`condgan.seeds`) and the replay buffer is one global buffer
(`condgan.embedding_replay`).

A multi-worker strategy must be built before TensorFlow runs its first op in
the process (it configures the collective ops of the eager context).
"""

from __future__ import annotations

import json
import os
import signal
import threading

import tensorflow as tf

from condgan.config import STRATEGIES


class StrategyError(ValueError):
    """A strategy cannot be built from what was given (names what is wrong)."""


def parse_tf_config(text: str | None) -> dict:
    """Checks a TF_CONFIG value and returns it as a dict.

    Args:
      text: the JSON text of TF_CONFIG, or None when the variable is not set.

    Returns:
      {"cluster": {job: [host:port, ...]}, "task": {"type": job, "index": i}}.

    Raises:
      StrategyError: naming TF_CONFIG and what is missing or malformed.
    """
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        raise StrategyError("strategy multi_worker needs the TF_CONFIG environment variable "
                            f"(the cluster and this process's task), {example}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({e}); {example}") from None
    if not isinstance(config, dict):
        raise StrategyError(f"TF_CONFIG must be a JSON object, got {type(config).__name__}; "
                            f"{example}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise StrategyError(f"TF_CONFIG has no \"cluster\" object of jobs; {example}")
    for job, addresses in cluster.items():
        if job not in ("chief", "worker"):
            raise StrategyError(f"TF_CONFIG cluster job {job!r} is not supported by multi_worker "
                                "(use \"worker\", and optionally one \"chief\")")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit()
                           for a in addresses)):
            raise StrategyError(f"TF_CONFIG cluster[{job!r}] must be a non-empty list of "
                                f"\"host:port\" strings, got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise StrategyError(f"TF_CONFIG may have at most one chief, got {cluster['chief']!r}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise StrategyError("TF_CONFIG has no \"task\" object with \"type\" and \"index\" "
                            f"(which cluster member this process is); {example}")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise StrategyError(f"TF_CONFIG task type {kind!r} is not a job of the cluster "
                            f"({sorted(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise StrategyError(f"TF_CONFIG task index {index!r} is out of range for the "
                            f"{len(cluster[kind])} {kind!r} address(es)")
    return config


def make_strategy(name: str, devices: list[str] | None = None) -> tf.distribute.Strategy:
    """The tf.distribute strategy called `name` (one of `condgan.config.STRATEGIES`).

    Args:
      name: "default", "mirrored" or "multi_worker".
      devices: for "mirrored" only, the devices to replicate on (default: all
        local GPUs, else the CPU).

    Returns:
      A `tf.distribute.Strategy`; build the model in its `scope()`.

    Raises:
      StrategyError: unknown name, `devices` with another strategy, or (for
        "multi_worker") a missing or malformed TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise StrategyError(f"strategy {name!r} is unknown; choose one of {', '.join(STRATEGIES)}")
    if devices is not None and name != "mirrored":
        raise StrategyError(f"devices are only used by the mirrored strategy, not {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    parse_tf_config(os.environ.get("TF_CONFIG"))
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    reinstall_signal_handlers()
    return strategy


def reinstall_signal_handlers(signals=(signal.SIGTERM, signal.SIGINT)) -> None:
    """Gives the process's Python signal handlers back their signals.

    The coordination service a MultiWorkerMirroredStrategy starts installs a C++
    SIGTERM handler (TensorFlow's preemption notifier) over Python's, so a SIGTERM
    no longer reaches Python: a handler installed before the strategy (e.g. the
    training loop's checkpoint-and-stop, `condgan.training.preemption`) would never
    run and the process would train on. Re-installing the Python-level handlers
    (what `signal.getsignal` still reports) undoes that. Main thread only (else a
    no-op, as Python allows handlers only there).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in signals:
        handler = signal.getsignal(signum)
        if handler is not None:
            signal.signal(signum, handler)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy spans more than one process."""
    return strategy.extended._in_multi_worker_mode()  # noqa: SLF001 (no public API)


def task_id(strategy: tf.distribute.Strategy) -> int:
    """This process's index within its job (0 without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_id is None:
        return 0
    return int(resolver.task_id)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: the "chief" task if the cluster
    has one, else worker 0; always true for a single-process strategy.

    Every worker must still take part in each checkpoint save (the save reads
    distributed variables); the others write theirs to a scratch directory.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


class StopAgreement:
    """Makes every worker of a multi-worker run stop at the same step.

    A preempted cluster gets SIGTERM on every worker, but each worker sees it at its
    own step boundary; one that stops while its peer has begun the next step leaves
    the peer inside a collective ("Socket closed"). So at every step boundary the
    loop calls this with its local reasons to stop, and every worker gets the sum
    over all workers: a collective every worker enters at the same step, so they all
    stop together. Under a single-process strategy it returns the local values and
    runs nothing.
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        self.active = is_multi_worker(strategy)
        if not self.active:
            return

        # Each replica adds 1/(its worker's replicas) of the worker's values, so that
        # the sum over every replica is the sum over the workers.
        local_replicas = float(len(strategy.extended.worker_devices))

        def local_sum(x):
            return tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, x / local_replicas)

        @tf.function
        def reduce(x):
            out = strategy.run(local_sum, args=(x,))
            return strategy.experimental_local_results(out)[0]

        self._reduce = reduce

    def __call__(self, values: list[float]) -> list[float]:
        """Sums `values` (small non-negative numbers) over the workers."""
        if not self.active:
            return list(values)
        out = self._reduce(tf.constant(values, tf.float32)).numpy()
        return [float(round(v)) for v in out]
