"""Time and peak memory of one overlap-loss step (forward + backward): strips vs rays, ring vs grid.

The seed's open TODO "sequential vs grid-based VICReg". Features ``(B, V, H, W, D)`` require grad;
a step is ``overlap_loss(...)["loss"].backward()``. Cases:

* origin-strip: the origin's pairwise strip loss (reference_spec 2.1: population variance, halved
  (P, D, D) covariance chunked by 8), transcribed here as the baseline;
* ring-strip: e2p ring of 9 tiles (fov 90, step 40 degrees), the seed's column strips;
* ring-ray:   the same ring, ray-matched tokens;
* grid-ray:   anyres_e2p default (global + 8 tiles), ray-matched tiles (global excluded);
* grid-ray+global: the same with every tile also matched to the global view.

Time: minimum (least disturbed by other load on a shared CPU) and median over the repeats.
Peak memory: from the profiler's allocation events (``profile_memory=True``) of one extra step,
the highest level above the level before the step (it counts the 41 MiB feature gradient);
deterministic, unlike RSS. Ratios are against origin-strip, measured in the same run.

    HF_HUB_OFFLINE=1 /work/venv/bin/python benchmarks/overlap_loss.py [--batch 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

from panovlm.losses.vicreg_overlap import overlap_loss
from panovlm.plans import build_view_plan

CASES = {
    "origin-strip": ("e2p", "origin", False),
    "ring-strip": ("e2p", "strip", False),
    "ring-ray": ("e2p", "ray", False),
    "grid-ray": ("anyres_e2p", "ray", False),
    "grid-ray+global": ("anyres_e2p", "ray", True),
}
RING_OVERLAP = 5.0 / 9.0  # fov 90 at a 40-degree step: 9 tiles, like the 9 views of anyres_e2p


def origin_strip_loss(features: torch.Tensor, overlap_ratio: float, pair_chunk: int = 8) -> torch.Tensor:
    """The origin's pairwise strip VICReg (reference_spec 2.1), only as a baseline to time against."""
    b, v, h, w, d = features.shape
    k = max(1, math.floor(w * overlap_ratio))
    x = features[:, :, :, w - k:].reshape(b * v, h * k, d)  # (P, L, D)
    y = torch.roll(features, -1, dims=1)[:, :, :, :k].reshape(b * v, h * k, d)
    inv = (x - y).pow(2).mean(dim=(1, 2))
    std_x, std_y = (torch.sqrt(z.var(dim=1, unbiased=False) + 1e-4) for z in (x, y))
    var = 0.5 * (torch.relu(1 - std_x).mean(-1) + torch.relu(1 - std_y).mean(-1))
    covs = []
    for s in range(0, b * v, pair_chunk):
        terms = []
        for z in (x[s:s + pair_chunk], y[s:s + pair_chunk]):
            zc = z - z.mean(dim=1, keepdim=True)
            c = zc.transpose(1, 2) @ zc / max(h * k - 1, 1)  # (chunk, D, D)
            terms.append((c.pow(2).sum(dim=(1, 2)) - torch.diagonal(c, dim1=1, dim2=2).pow(2).sum(-1)) / d)
        covs.append(0.5 * (terms[0] + terms[1]))
    return (25 * inv + 25 * var + torch.cat(covs)).mean().clamp(max=1e6)


def make_step(name: str, chunk: int | None, batch: int, dim: int, grid: int, vicreg_mode: str):
    strategy, match, include_global = CASES[name]
    plan = build_view_plan(strategy, overlap_ratio=RING_OVERLAP if strategy == "e2p" else 0.5)
    features = torch.randn(batch, len(plan), grid, grid, dim, requires_grad=True)  # (B, V, H, W, D)

    def step() -> dict:
        if match == "origin":
            loss = origin_strip_loss(features, plan.overlap_ratio, chunk or batch * len(plan))
            out = {"num_pairs": batch * len(plan), "num_tokens": -1}
        else:
            out = overlap_loss(features, plan, mode=match, include_global=include_global, vicreg_mode=vicreg_mode,
                               pair_chunk=chunk)
            loss = out.pop("loss")
        loss.backward()
        # Freed inside the step so that the profiler sees both its allocation and its release.
        features.grad = None
        return out

    return plan, step


def peak_mib(step) -> float:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    level = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        level += event.self_cpu_memory_usage
        peak = max(peak, level)
    return peak / 2**20


def run_case(name: str, chunk: int | None, args: argparse.Namespace) -> dict:
    plan, step = make_step(name, chunk, args.batch, args.dim, args.grid, args.vicreg_mode)
    out = step()  # warm-up: builds and caches pairs and index tensors
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - t0))
    return {"case": name, "chunk": chunk, "views": len(plan), "pairs": out["num_pairs"], "tokens": out["num_tokens"],
            "ms": min(times), "median_ms": statistics.median(times), "peak_mib": peak_mib(step)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--grid", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vicreg-mode", default="pairwise", choices=("pairwise", "batchwise"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [run_case(name, chunk, args) for name in CASES for chunk in (None, 8)]
    base = rows[1]  # origin-strip, chunk 8: the origin's default
    print(f"B={args.batch} D={args.dim} grid={args.grid}x{args.grid} vicreg_mode={args.vicreg_mode} "
          f"repeats={args.repeats} threads={args.threads} (forward + backward, CPU)")
    print(f"{'case':<16} {'chunk':>5} {'pairs':>5} {'tokens':>6} {'min ms':>8} {'median':>8} {'x time':>7} "
          f"{'peak MiB':>9} {'x mem':>6}")
    for r in rows:
        print(f"{r['case']:<16} {str(r['chunk']):>5} {r['pairs']:>5} {r['tokens']:>6} {r['ms']:>8.1f} "
              f"{r['median_ms']:>8.1f} {r['ms'] / base['ms']:>7.2f} {r['peak_mib']:>9.1f} "
              f"{r['peak_mib'] / base['peak_mib']:>6.2f}")


if __name__ == "__main__":
    main()
