"""Where a training step's time goes on this CPU: matrix products against everything else.

    .venv/bin/python -m bench.profile [--steps 40]

Profiles eager training steps (forward, backward, fused AdamW: what the Trainer runs, in mixed precision
bf16 where `sentscore train` would use it) of the bundled model on the length-grouped batches of 16 that
`bench.compile` uses, with `torch.profiler`, and measures the fp32 and bf16 matmul peaks in the same process.
It reports the share of step time in each kind of operator and the rate the matrix products themselves reach
(6 × non-embedding parameters × real tokens, over the time spent in `mm`/`addmm`). The FLOP/s target can be
met only if both the products run near the peak and the rest of the step is small. Writes
bench/results/profile.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .common import cpu_name, matmul_peak, utc_now, write_result
from .compile import (
    WARM_UP_BATCHES,
    bundled_model_for_training,
    cpu_training_config,
    default_bf16,
    training_batches,
    training_step,
)
from .measure import training_flops_per_token

#: Operator families, by the aten operators that make them up (self time; everything else is "other").
FAMILIES = {
    "linear layers (mm, addmm)": ("aten::mm", "aten::addmm"),
    "attention (bmm, or the fused kernel when attention dropout is 0)": (
        "aten::bmm",
        "aten::baddbmm",
        "aten::_scaled_dot_product_flash_attention_for_cpu",
        "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
    ),
    "dropout masks (bernoulli_)": ("aten::bernoulli_",),
    "optimizer (fused AdamW)": ("aten::_fused_adamw_",),
    "GELU": ("aten::gelu", "aten::gelu_backward"),
    "layer norm": ("aten::native_layer_norm", "aten::native_layer_norm_backward"),
    "softmax": ("aten::_softmax", "aten::_softmax_backward_data"),
    "copies and casts between fp32 and bf16": ("aten::copy_", "aten::_to_copy"),
}


def profile_steps(model: Any, batches: list[Any]) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile

    step = training_step(model, fused=True)
    for batch in batches[:WARM_UP_BATCHES]:
        step(batch)
    timed = batches[WARM_UP_BATCHES:]
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in timed:
            step(batch)
    wall = time.perf_counter() - started
    self_seconds: dict[str, float] = {}
    for event in prof.key_averages():
        self_seconds[event.key] = self_seconds.get(event.key, 0.0) + event.self_cpu_time_total / 1e6
    total = sum(self_seconds.values())
    families = {name: sum(self_seconds.get(op, 0.0) for op in ops) for name, ops in FAMILIES.items()}
    families["other"] = total - sum(families.values())
    return {
        "steps": len(timed),
        "real_tokens": sum(int(b["attention_mask"].sum()) for b in timed),
        "wall_seconds": wall,
        "profiled_seconds": total,
        "share": {name: seconds / total for name, seconds in families.items()},
        "linear_seconds": families["linear layers (mm, addmm)"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="Profiled steps after the warm-up.")
    args = parser.parse_args()
    import torch

    from sentscore.training.runtime import tune_process_for_training

    started = utc_now()
    bf16 = default_bf16()
    # Before the bf16 probe builds oneDNN's first primitive, as `sentscore train` tunes its process.
    tune_process_for_training(cpu_training_config(bf16))
    data, batches = training_batches(args.steps)
    model = bundled_model_for_training()
    peak = matmul_peak()
    bf16_peak = matmul_peak(dtype="bfloat16")
    result = profile_steps(model, batches)
    flops = training_flops_per_token(model) * result["real_tokens"]
    result.update(
        started=started,
        cpu=cpu_name(),
        data=data.name,
        torch=torch.__version__,
        precision="bf16" if bf16 else "fp32",
        matmul_peak_gflops=peak,
        bf16_matmul_peak_gflops=bf16_peak,
        step_gflops=flops / result["wall_seconds"] / 1e9,
        linear_gflops=flops / result["linear_seconds"] / 1e9,
    )
    print(f"[profile] {json.dumps(result, indent=2)}", flush=True)
    path = write_result("profile", result)
    print(f"[profile] wrote {path}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
