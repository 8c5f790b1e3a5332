"""How low the model floor goes: one ResNet50 CAM classifier at the paper's 224x224 under each CPU option.

Variants: scripted as exported; torch.jit.freeze + optimize_for_inference (what ModelStore does on CPU);
the same in channels-last memory format; bfloat16 autocast; and the thread count. Every variant's
probabilities are compared with the exported model's, so a faster variant that changes results shows it.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from training.classifier_cam import build_resnet_classifier

__all__ = ["floor_variants", "TOLERANCE"]

TOLERANCE = 1e-2  # max |Δ CAM| / max |CAM| a variant may introduce and still count as "same results"


def _relative_diff(output: torch.Tensor, reference: torch.Tensor) -> float:
    return float((output.float() - reference).abs().max() / reference.abs().max().clamp(min=1e-12))


def _interleaved_times(variants: list[tuple[str, Any, torch.Tensor]], repeats: int) -> list[float]:
    """Median seconds per image of each variant, each timed in its own block after two warm-up calls.

    (Interleaving the variants call by call was tried: switching models between calls slowed every
    variant about fourfold, so the blocks measure each option as a batch run would use it.)
    """
    medians = []
    for _, fn, inputs in variants:
        fn(inputs)
        fn(inputs)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(inputs)
            samples.append((time.perf_counter() - start) / inputs.shape[0])
        medians.append(sorted(samples)[len(samples) // 2])
    return medians


@torch.inference_mode()
def floor_variants(batch: int = 8, repeats: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """Seconds per 224x224 image and the largest relative change of the CAM for each variant."""
    torch.manual_seed(seed)
    model = torch.jit.script(build_resnet_classifier(50).eval())
    x = torch.randn(batch, 3, 224, 224)
    reference = model(x)[1]  # the CAM: unlike a random model's saturated probabilities, it shows any drift
    base = build_resnet_classifier(50).eval()
    base.load_state_dict(model.state_dict())
    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(base)))
    base_cl = build_resnet_classifier(50).eval().to(memory_format=torch.channels_last)
    base_cl.load_state_dict(model.state_dict())
    frozen_cl = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(base_cl)))
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def bf16(inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(inputs)[1].float()

    variants = [
        ("scripted (as exported)", lambda t: model(t)[1], x),
        ("freeze + optimize_for_inference", lambda t: frozen(t)[1], x),
        ("freeze + optimize, channels-last", lambda t: frozen_cl(t)[1], x_cl),
        ("bfloat16 autocast", bf16, x),
    ]
    rows = []
    threads = torch.get_num_threads()
    for (name, fn, inputs), seconds in zip(variants, _interleaved_times(variants, repeats), strict=True):
        diff = _relative_diff(fn(inputs), reference)
        rows.append(
            {
                "variant": name,
                "threads": threads,
                "s_per_image": round(seconds, 4),
                "max_rel_diff": diff,
                "same_results": diff <= TOLERANCE,
            }
        )
    torch.set_num_threads(1)
    try:
        single = [("freeze + optimize_for_inference", lambda t: frozen(t)[1], x)]
        seconds = _interleaved_times(single, repeats)[0]
        diff = _relative_diff(frozen(x)[1], reference)
        rows.append(
            {
                "variant": single[0][0],
                "threads": 1,
                "s_per_image": round(seconds, 4),
                "max_rel_diff": diff,
                "same_results": diff <= TOLERANCE,
            }
        )
    finally:
        torch.set_num_threads(threads)
    base_time = rows[0]["s_per_image"]
    for row in rows:
        row["speedup_vs_exported"] = round(base_time / row["s_per_image"], 2)
    return rows
