"""PyTorch adapters: hooks that feed a model's tensors to the NumPy monitors.

Reductions (norms, softmax statistics, invariant deviations) run on the tensors'
device and only small results cross to the host, and only on sampled steps.

GPU attribution: pass ``gpu_uuid``, or leave it out for a model on a CUDA device and
it is resolved from that device: through NVML by PCI bus id when ``nvidia-ml-py``
(the ``gpu`` extra) is installed, else from the CUDA device properties; both give
the ``GPU-...`` UUID that ``nvidia-smi -L`` and the agent use. A model on the CPU
has no GPU to resolve, so the caller passes the UUID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the PyTorch adapters of sentinel.fleet.monitors need PyTorch: "
        "pip install 'sentinel[torch]'"
    ) from exc

from sentinel.fleet.monitors._types import Anomaly, AnomalySink
from sentinel.fleet.monitors.inference import InferenceMonitor, LogitSummary
from sentinel.fleet.monitors.invariants import InvariantChecker
from sentinel.fleet.monitors.training import TrainingMonitor, state_digest

__all__ = [
    "TorchInferenceMonitor",
    "TorchInvariantHooks",
    "TorchTrainingMonitor",
    "check_tensor_invariants",
    "resolve_gpu_uuid",
    "summarize_tensor_logits",
]

_NO_TENSORS: Mapping[str, torch.Tensor] = {}


def resolve_gpu_uuid(device: torch.device | str | int) -> str:
    """The ``GPU-...`` UUID of a CUDA device.

    Raises:
        ValueError: ``device`` is not a CUDA device; pass ``gpu_uuid`` explicitly.
    """
    dev = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_available():
        raise ValueError(
            f"cannot resolve a GPU UUID for device {str(dev)!r}; pass gpu_uuid='GPU-...' "
            "(as `nvidia-smi -L` prints it) for a model that does not run on CUDA"
        )
    index = torch.cuda.current_device() if dev.index is None else dev.index
    props = torch.cuda.get_device_properties(index)
    try:
        import pynvml
    except ImportError:
        return f"GPU-{props.uuid}"
    pynvml.nvmlInit()
    try:
        domain, bus, dev_id = props.pci_domain_id, props.pci_bus_id, props.pci_device_id  # type: ignore[attr-defined]
        address = f"{domain:08x}:{bus:02x}:{dev_id:02x}.0"
        uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByPciBusId(address))
    finally:
        pynvml.nvmlShutdown()
    return uuid.decode() if isinstance(uuid, bytes) else str(uuid)


def _gpu_of(model: torch.nn.Module, gpu_uuid: str | None) -> str:
    if gpu_uuid:
        return gpu_uuid
    param = next(model.parameters(), None)
    return resolve_gpu_uuid(param.device if param is not None else "cpu")


def _host_array(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    try:
        return t.cpu().numpy()
    except TypeError:  # bfloat16 and float8 have no NumPy dtype: digest their bits
        return t.reshape(-1).contiguous().view(torch.uint8).cpu().numpy()


def _digest(named: Iterator[tuple[str, torch.Tensor]]) -> bytes:
    return state_digest((name, _host_array(t)) for name, t in sorted(named, key=lambda i: i[0]))


def summarize_tensor_logits(logits: torch.Tensor) -> LogitSummary:
    """``summarize_logits`` computed on the logits' device; one small copy to the host."""
    with torch.no_grad():
        x = logits.detach().float().reshape(-1, logits.shape[-1])
        rows = x.shape[0]
        if not bool(torch.isfinite(x).all()):
            return LogitSummary(rows, np.nan, np.nan, np.nan, np.empty(0), finite=False)
        logp = torch.log_softmax(x, dim=-1)
        p = logp.exp()
        entropy = -(p * logp).sum(dim=-1).mean()
        std, mean = torch.std_mean(x, correction=0)
        head = torch.stack([mean, std, entropy]).double().cpu().tolist()
        marginal = p.double().mean(dim=0).cpu().numpy()
    return LogitSummary(rows, head[0], head[1], head[2], marginal)


def _scalar(value: torch.Tensor | float | None) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.detach())
    return None if value is None else float(value)


def _default_logits(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    return output[0]


class TorchInferenceMonitor:
    """An ``InferenceMonitor`` fed by a forward hook on ``model``.

    Args:
        model: Module whose output holds the logits.
        sink: Receives the anomalies.
        gpu_uuid: GPU the model runs on; resolved from its CUDA device when omitted.
        logits_of: Picks the logits out of the output; by default the output itself,
            its ``.logits`` or its first element.
        **options: ``InferenceMonitor`` options (reference, warmup, sampling_rate...).
    """

    component = InferenceMonitor.component

    def __init__(
        self,
        model: torch.nn.Module,
        sink: AnomalySink,
        *,
        gpu_uuid: str | None = None,
        logits_of: Callable[[Any], torch.Tensor] = _default_logits,
        **options: Any,
    ) -> None:
        self.monitor = InferenceMonitor(_gpu_of(model, gpu_uuid), sink, **options)
        self._logits_of = logits_of
        self._handle = model.register_forward_hook(self._after_forward)

    def configure(
        self, *, sampling_rate: float | None = None, thresholds: Mapping[str, float] = {}
    ) -> None:
        """``InferenceMonitor.configure``."""
        self.monitor.configure(sampling_rate=sampling_rate, thresholds=thresholds)

    def _after_forward(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if self.monitor.sample():
            self.monitor.check_summary(summarize_tensor_logits(self._logits_of(output)))

    def remove(self) -> None:
        """Remove the hook."""
        self._handle.remove()


class TorchTrainingMonitor:
    """A ``TrainingMonitor`` driven by hooks on the optimizer.

    Each ``optimizer.step()`` is one monitored step. Before it, on sampled steps, the
    monitor reads the learning rate of the first parameter group, the loss given to
    ``record_loss`` and the total gradient norm. A norm given to ``record_grad_norm``
    (the pre-clipping norm, free when you clip) is checked on every sampled step; without
    one the monitor computes it itself on every ``grad_norm_every``-th sampled step only,
    because that is a full pass over the gradients (about 6% of a CPU training step of a
    100M-parameter model, measured by ``bench/bench_monitors.py``). After every
    ``digest_every``-th step it digests the parameters into ``last_digest``:
    SHA-256 over every byte costs about one pass over the model, so it is not done
    every step.

    Args:
        model: The model being trained.
        optimizer: Its optimizer.
        sink: Receives the anomalies.
        gpu_uuid: GPU this rank trains on; resolved from the model's CUDA device when omitted.
        digest_every: Steps between parameter digests; 0 disables them.
        grad_norm_every: Sampled steps between gradient norms the monitor computes itself.
        **options: ``TrainingMonitor`` options (window, lr_grace_steps, sampling_rate...).
    """

    component = TrainingMonitor.component

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        sink: AnomalySink,
        *,
        gpu_uuid: str | None = None,
        digest_every: int = 100,
        grad_norm_every: int = 16,
        **options: Any,
    ) -> None:
        if grad_norm_every < 1:
            raise ValueError(f"grad_norm_every must be at least 1, got {grad_norm_every}")
        self.monitor = TrainingMonitor(_gpu_of(model, gpu_uuid), sink, **options)
        self.model = model
        self.digest_every = digest_every
        self.grad_norm_every = grad_norm_every
        self._sampled = 0
        self.steps = 0
        self.last_digest: bytes | None = None
        self._loss: torch.Tensor | float | None = None
        self._grad_norm: torch.Tensor | float | None = None
        self._handles = [
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]

    def configure(
        self, *, sampling_rate: float | None = None, thresholds: Mapping[str, float] = {}
    ) -> None:
        """``TrainingMonitor.configure``."""
        self.monitor.configure(sampling_rate=sampling_rate, thresholds=thresholds)

    def record_loss(self, loss: torch.Tensor | float) -> None:
        """The loss of the step about to be taken (read only if the step is sampled)."""
        self._loss = loss

    def record_grad_norm(self, norm: torch.Tensor | float) -> None:
        """The total gradient norm before clipping, e.g. what ``clip_grad_norm_`` returns."""
        self._grad_norm = norm

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        loss, norm, self._loss, self._grad_norm = self._loss, self._grad_norm, None, None
        if not self.monitor.sample():
            return
        self._sampled += 1
        if norm is None and self._sampled % self.grad_norm_every == 0:
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads) if grads else None
        self.monitor.check_step(
            loss=_scalar(loss),
            grad_norm=_scalar(norm),
            lr=float(optimizer.param_groups[0]["lr"]),
        )

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.steps += 1
        if self.digest_every and self.steps % self.digest_every == 0:
            self.last_digest = self.parameter_digest()

    def parameter_digest(self) -> bytes:
        """SHA-256 of every parameter, by name (``state_digest``)."""
        return _digest(self.model.named_parameters())

    def gradient_digest(self) -> bytes:
        """SHA-256 of every gradient, by parameter name."""
        return _digest((n, p.grad) for n, p in self.model.named_parameters() if p.grad is not None)

    def check_checkpoint(self, state_dict: Mapping[str, torch.Tensor]) -> Anomaly | None:
        """Compare a reloaded state dict with the model's in-memory one."""
        return self.monitor.check_checkpoint(
            _digest(iter(state_dict.items())), _digest(iter(self.model.state_dict().items()))
        )

    def compare_ranks(self, *, group: Any = None) -> Anomaly | None:
        """Compare this rank's parameter digest with every rank's (a collective call).

        Every rank of ``group`` must call it at the same step. Rank 0 of the group
        reports the divergence, attributed to the diverging rank's GPU, and returns it;
        the other ranks return ``None``.

        Raises:
            RuntimeError: ``torch.distributed`` is not initialised.
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "compare_ranks needs torch.distributed: call "
                "torch.distributed.init_process_group(...) first"
            )
        mine = (self.parameter_digest(), self.monitor.gpu_uuid)
        gathered: list[Any] = [None] * dist.get_world_size(group)
        dist.all_gather_object(gathered, mine, group=group)
        if dist.get_rank(group) != 0:
            return None
        return self.monitor.compare_ranks(
            {r: d for r, (d, _) in enumerate(gathered)},
            rank_gpus={r: g for r, (_, g) in enumerate(gathered)},
        )

    def remove(self) -> None:
        """Remove the optimizer hooks."""
        for handle in self._handles:
            handle.remove()


def _layer_norm_deviation(out: torch.Tensor, module: torch.nn.LayerNorm) -> torch.Tensor:
    width = int(np.prod(module.normalized_shape))
    y = out.detach().float().reshape(-1, width)
    if module.bias is not None:
        y = y - module.bias.detach().float().reshape(-1)
    if module.weight is not None:
        w = module.weight.detach().float().reshape(-1)
        keep = w.abs() > 1e-12
        y = y[:, keep] / w[keep]
    var, mean = torch.var_mean(y, dim=1, correction=0)
    return torch.maximum(mean.abs().max(), var.max() - 1.0)


def _softmax_deviation(p: torch.Tensor) -> torch.Tensor:
    x = p.detach().double().reshape(-1, p.shape[-1])
    return torch.stack([(x.sum(dim=1) - 1).abs().max(), -x.min(), x.max() - 1]).max()


def _nonfinite(t: torch.Tensor) -> torch.Tensor:
    return (~torch.isfinite(t.detach())).sum()


def check_tensor_invariants(
    checker: InvariantChecker,
    *,
    finite: Mapping[str, torch.Tensor] = _NO_TENSORS,
    softmax: Mapping[str, torch.Tensor] = _NO_TENSORS,
) -> list[Anomaly]:
    """Check tensors on their device, with one sampling draw for the whole set.

    Args:
        checker: Decides sampling and tolerances, and reports.
        finite: Tensors that must hold no NaN or infinity, by name.
        softmax: Probability tensors whose last-axis rows must each sum to one, by name.

    Returns:
        The anomalies reported.
    """
    if not checker.sample():
        return []
    with torch.no_grad():
        counts = [float(_nonfinite(t)) for t in finite.values()]
        deviations = [float(_softmax_deviation(t)) for t in softmax.values()]
    found = [checker.evaluate("finite", c, name=n) for n, c in zip(finite, counts, strict=True)]
    found += [
        checker.evaluate("softmax", d, name=n) for n, d in zip(softmax, deviations, strict=True)
    ]
    return [a for a in found if a is not None]


class TorchInvariantHooks:
    """Forward hooks checking a model's invariants, one sampling draw per forward pass.

    Checks every ``nn.LayerNorm`` output (layer-norm statistics and finiteness),
    every ``nn.Softmax`` output (rows sum to one) and the model's tensor output
    (finiteness).
    """

    def __init__(self, model: torch.nn.Module, checker: InvariantChecker) -> None:
        self.checker = checker
        self._active = False
        self._handles = [
            model.register_forward_pre_hook(self._draw),
            model.register_forward_hook(self._check_output),
        ]
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.LayerNorm):
                self._handles.append(module.register_forward_hook(self._layer_norm_hook(name)))
            elif isinstance(module, torch.nn.Softmax):
                self._handles.append(module.register_forward_hook(self._softmax_hook(name)))

    def _draw(self, module: torch.nn.Module, args: Any) -> None:
        self._active = self.checker.sample()

    def _check_output(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if self._active and isinstance(output, torch.Tensor):
            with torch.no_grad():
                self.checker.evaluate("finite", float(_nonfinite(output)), name="output")

    def _layer_norm_hook(self, name: str) -> Callable[..., None]:
        def hook(module: torch.nn.LayerNorm, args: Any, output: torch.Tensor) -> None:
            if not self._active:
                return
            with torch.no_grad():
                bad, deviation = _nonfinite(output), _layer_norm_deviation(output, module)
                count, dev = torch.stack([bad.double(), deviation.double()]).tolist()
            if count:
                self.checker.evaluate("finite", count, name=name)
            else:
                self.checker.evaluate("layer_norm", dev, name=name)

        return hook

    def _softmax_hook(self, name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Softmax, args: Any, output: torch.Tensor) -> None:
            if self._active:
                with torch.no_grad():
                    self.checker.evaluate("softmax", float(_softmax_deviation(output)), name=name)

        return hook

    def remove(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
