"""PyTorch adapters on a small real model (CPU)."""

from __future__ import annotations

import os
from typing import Any

import pytest

try:
    import torch
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip(
        "PyTorch is not installed: pip install 'sentinel[torch]' (CI fails instead)",
        allow_module_level=True,
    )

from sentinel.fleet.monitors import (
    Anomaly,
    InvariantChecker,
    TorchInferenceMonitor,
    TorchInvariantHooks,
    TorchTrainingMonitor,
    check_tensor_invariants,
    resolve_gpu_uuid,
    summarize_logits,
    summarize_tensor_logits,
)
from sentinel.fleet.types import AnomalyType, Severity

GPU = "GPU-00000000-0000-0000-0000-000000000004"


class Collect:
    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []

    def report(self, anomaly: Anomaly) -> None:
        self.anomalies.append(anomaly)


def model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.LayerNorm(32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )


def train(net: torch.nn.Module, opt: torch.optim.Optimizer, tmon: Any, steps: int) -> None:
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(16, 10, generator=torch.Generator().manual_seed(2))
    for _ in range(steps):
        x = torch.randn(64, 16, generator=gen)
        loss = torch.nn.functional.mse_loss(net(x), x @ target)
        opt.zero_grad()
        loss.backward()
        tmon.record_loss(loss)
        opt.step()


def test_cpu_model_needs_an_explicit_gpu_uuid() -> None:
    with pytest.raises(ValueError, match="gpu_uuid"):
        TorchInferenceMonitor(model(), Collect())
    with pytest.raises(ValueError, match="nvidia-smi"):
        resolve_gpu_uuid("cpu")


def test_tensor_summary_matches_numpy() -> None:
    logits = torch.randn(64, 1000, generator=torch.Generator().manual_seed(0))
    t, n = summarize_tensor_logits(logits), summarize_logits(logits.numpy())
    assert t.rows == n.rows == 64
    assert t.mean_logit == pytest.approx(n.mean_logit, rel=1e-5)
    assert t.std_logit == pytest.approx(n.std_logit, rel=1e-5)
    assert t.mean_entropy == pytest.approx(n.mean_entropy, rel=1e-5)
    assert t.marginal == pytest.approx(n.marginal, rel=1e-4)
    assert not summarize_tensor_logits(torch.tensor([[0.0, float("nan")]])).finite


def test_inference_hook_detects_corrupted_weights() -> None:
    sink = Collect()
    net = model().eval()
    imon = TorchInferenceMonitor(net, sink, gpu_uuid=GPU, seed=0)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _ in range(300):
            net(torch.randn(64, 16, generator=gen))
        assert sink.anomalies == []
        net[3].weight[2, :] *= 50  # silent corruption of one output row
        net(torch.randn(64, 16, generator=gen))
    assert sink.anomalies and {a.gpu_uuid for a in sink.anomalies} == {GPU}
    imon.configure(sampling_rate=0.0)
    imon.remove()


def test_training_hooks_quiet_then_catch_a_gradient_spike() -> None:
    sink = Collect()
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    tmon = TorchTrainingMonitor(
        net, opt, sink, gpu_uuid=GPU, digest_every=50, grad_norm_every=1, seed=0
    )
    train(net, opt, tmon, 300)
    assert sink.anomalies == []
    assert tmon.steps == 300 and tmon.last_digest == tmon.parameter_digest()
    loss = net(torch.randn(64, 16)).pow(2).mean() * 1e4
    opt.zero_grad()
    loss.backward()
    tmon.record_loss(loss)
    opt.step()
    assert {AnomalyType.GRADIENT_NORM_SPIKE, AnomalyType.LOSS_SPIKE} <= {
        a.anomaly_type for a in sink.anomalies
    }
    tmon.remove()


def test_own_gradient_norm_is_computed_every_nth_sampled_step() -> None:
    sink = Collect()
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    tmon = TorchTrainingMonitor(net, opt, sink, gpu_uuid=GPU, grad_norm_every=3)
    for step in range(1, 7):
        opt.zero_grad()
        net(torch.randn(4, 16)).sum().backward()
        next(net.parameters()).grad.fill_(float("nan"))  # type: ignore[union-attr]
        opt.step()
        spikes = [a for a in sink.anomalies if a.anomaly_type == AnomalyType.GRADIENT_NORM_SPIKE]
        assert len(spikes) == step // 3
    tmon.remove()
    with pytest.raises(ValueError, match="grad_norm_every"):
        TorchTrainingMonitor(net, opt, sink, gpu_uuid=GPU, grad_norm_every=0)


def test_record_grad_norm_is_used_instead_of_computing_it() -> None:
    sink = Collect()
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    tmon = TorchTrainingMonitor(net, opt, sink, gpu_uuid=GPU)
    net(torch.randn(4, 16)).sum().backward()
    tmon.record_grad_norm(torch.tensor(float("inf")))
    opt.step()
    (a,) = sink.anomalies
    assert a.anomaly_type == AnomalyType.GRADIENT_NORM_SPIKE and a.severity == Severity.CRITICAL


def test_digests_find_divergent_replicas_and_checkpoints() -> None:
    sink = Collect()
    nets = [model(0), model(0), model(0)]
    mons = [
        TorchTrainingMonitor(n, torch.optim.SGD(n.parameters(), lr=0.1), sink, gpu_uuid=f"GPU-{i}")
        for i, n in enumerate(nets)
    ]
    with torch.no_grad():
        nets[1][0].weight.view(-1).view(torch.int32)[7] ^= 1  # one bit on rank 1
    digests = {rank: m.parameter_digest() for rank, m in enumerate(mons)}
    a = mons[0].monitor.compare_ranks(digests, rank_gpus={0: "GPU-0", 1: "GPU-1", 2: "GPU-2"})
    assert a is not None and a.gpu_uuid == "GPU-1" and "[1]" in a.detail
    saved = {k: v.clone() for k, v in nets[0].state_dict().items()}
    assert mons[0].check_checkpoint(saved) is None
    saved["3.bias"][0] += 1e-6
    corrupt = mons[0].check_checkpoint(saved)
    assert corrupt is not None and corrupt.anomaly_type == AnomalyType.CHECKPOINT_DIVERGENCE
    bf16 = torch.nn.Linear(4, 4).to(torch.bfloat16)
    bmon = TorchTrainingMonitor(bf16, torch.optim.SGD(bf16.parameters()), sink, gpu_uuid=GPU)
    assert len(bmon.parameter_digest()) == 32


def test_compare_ranks_over_torch_distributed(tmp_path: Any) -> None:
    import torch.distributed as dist

    net = model()
    tmon = TorchTrainingMonitor(net, torch.optim.SGD(net.parameters()), Collect(), gpu_uuid=GPU)
    with pytest.raises(RuntimeError, match="init_process_group"):
        tmon.compare_ranks()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        assert tmon.compare_ranks() is None
    finally:
        dist.destroy_process_group()


def test_invariant_hooks_and_tensor_checks() -> None:
    sink = Collect()
    checker = InvariantChecker(GPU, sink)
    net = torch.nn.Sequential(model(), torch.nn.Softmax(dim=-1))
    hooks = TorchInvariantHooks(net, checker)
    gen = torch.Generator().manual_seed(4)
    for _ in range(50):
        net(torch.randn(32, 16, generator=gen))
    assert sink.anomalies == []
    with torch.no_grad():
        net[0][1].bias[3] = float("nan")
    net(torch.randn(32, 16))
    assert sink.anomalies and sink.anomalies[0].severity == Severity.CRITICAL
    hooks.remove()
    probs = torch.softmax(torch.randn(4, 8), dim=-1)
    assert check_tensor_invariants(checker, finite={"p": probs}, softmax={"p": probs}) == []
    probs[1, 1] += 0.1
    (bad,) = check_tensor_invariants(checker, softmax={"attn": probs})
    assert bad.detail.startswith("attn") and bad.score == pytest.approx(0.1, rel=1e-5)


def test_layer_norm_hook_catches_a_flipped_output() -> None:
    sink = Collect()
    ln = torch.nn.LayerNorm(64)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)

    def flip(module: Any, args: Any, out: torch.Tensor) -> None:
        out[0, 5] *= 2.0**20  # as if a high exponent bit of one output flipped

    ln.register_forward_hook(flip)
    hooks = TorchInvariantHooks(ln, InvariantChecker(GPU, sink))  # runs after the corruption
    with torch.no_grad():
        ln(torch.randn(8, 64, generator=torch.Generator().manual_seed(5)))
    hooks.remove()
    assert [a.anomaly_type for a in sink.anomalies] == [AnomalyType.INVARIANT_VIOLATION]
    assert "layer_norm invariant" in sink.anomalies[0].detail
