"""Wall time of drift.drift on 10k x 10k embeddings of dimension 1024 with the default settings (exact W1,
the mean over DEFAULT_N_SUBSAMPLES seeded subsample pairs of DEFAULT_MAX_POINTS points per side), plus the
sliced estimator (not W1) for comparison.

    python3 benchmarks/drift_benchmark.py [--n 10000] [--dim 1024] [--seed 0] [--floor]

--floor also prints W1 between two independent samples of the SAME distribution: the finite-sample floor
that subsampled W1 carries in high dimension (the population W1 of the drifted pair is at most its W2,
sqrt(dim (0.1^2 + 0.05^2)) = 3.58 for dim 1024).

Thread count is whatever BLAS uses by default (set OMP_NUM_THREADS to pin it)."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from deepfake_rl.drift import DEFAULT_MAX_POINTS, DEFAULT_N_PROJECTIONS, DEFAULT_N_SUBSAMPLES, drift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="points per set")
    parser.add_argument("--dim", type=int, default=1024, help="embedding dimension")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--floor", action="store_true", help="also W1 between two samples of one distribution")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    # float32 like the embeddings HDF5 files; the second set drifted by a small shift and a scale change
    a = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    b = (1.1 * rng.normal(size=(args.n, args.dim)) + 0.05).astype(np.float32)
    print(f"sets: {args.n} x {args.dim} vs {args.n} x {args.dim} (float32); cpus: {os.cpu_count()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    settings = {"exact": f"max_points={DEFAULT_MAX_POINTS}, n_subsamples={DEFAULT_N_SUBSAMPLES}",
                "sliced": f"n_projections={DEFAULT_N_PROJECTIONS}"}
    for method, described in settings.items():
        start = time.perf_counter()
        result = drift(a, b, method=method, seed=args.seed)
        seconds = time.perf_counter() - start
        print(f"estimator={method} ({described}) -> {result.estimator}: drift={result.value:.4f} "
              f"(subsample std {result.subsample_std:.4f}), wall time {seconds:.2f} s")
    if args.floor:
        same = rng.normal(size=(args.n, args.dim)).astype(np.float32)
        print(f"floor: W1 between two samples of N(0, I) = {drift(a, same, seed=args.seed).value:.4f}")


if __name__ == "__main__":
    main()
