#!/usr/bin/env python3
"""Times the reference (openai/jukebox, PyTorch CPU) greedy KV-cache sampling on the medium prior.

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824 \\
    OPENBLAS_NUM_THREADS=1 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
    JUKEBOX_REF=/path/to/jukebox /usr/bin/python3 bench/reference_sample.py --threads 2

Those variables are the reference at its best on these machines (../shared/FACTS.md: page faults are
slow here and PyTorch allocates fresh activations per op; OpenBLAS's own threads fight torch's).
bench/sample.ts sets them for this child process only. Without them it runs 3-4x slower.

The model is the issue's medium config as a minimal top-level prior, built by the reference's own
`make_prior`: level 2 of the published VQ-VAE geometry (hops 8/32/128), l_bins 2048, n_ctx 1024,
width 256, depth 8, 2 heads, attn_order 2 (block / transpose-block / previous-block layers, as the
published priors), blocks 32, no labels (so no artist/genre/timing/lyrics conditioning: the start
token begins the sequence), default init with torch seed 0 (speed does not depend on the values).
Samples greedily (top_k 1) through `SimplePrior.sample`, i.e. `ConditionalAutoregressive2D.sample`
with the KV cache, and prints one JSON line with the best of `--repeats` runs and the greedy tokens
of row 0. `--save PATH` also writes the model as a reference checkpoint, which bench/sample.ts loads
so that both implementations sample from the same weights.
"""
import argparse
import json
import os
import sys
import time
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'test', 'fixtures', 'reference'))
from reference_import import import_reference_priors  # noqa: E402

MEDIUM = dict(sr=44100, levels=3, downs_t=(3, 2, 2), strides_t=(2, 2, 2), l_bins=2048, level=2,
              n_ctx=1024, prior_width=256, prior_depth=8, heads=2, attn_order=2, blocks=32,
              labels=False, fp16_params=False)
HOPS = [8, 32, 128]
BEST_ENV = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_', 'OPENBLAS_NUM_THREADS')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--samples', type=int, default=1, help='batch rows sampled together')
    parser.add_argument('--tokens', type=int, default=1024, help='tokens sampled per row (<= n_ctx)')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--attn-order', type=int, default=MEDIUM['attn_order'])
    parser.add_argument('--width', type=int, default=MEDIUM['prior_width'])
    parser.add_argument('--depth', type=int, default=MEDIUM['prior_depth'])
    parser.add_argument('--save', default='', help="also save the model as a reference checkpoint "
                        "({'hps', 'model', 'step'}) here, for bench/sample.ts to load the same weights")
    args = parser.parse_args()
    config = dict(MEDIUM, attn_order=args.attn_order, prior_width=args.width, prior_depth=args.depth)
    torch.set_num_threads(args.threads)
    R = import_reference_priors(os.path.join(HERE, '..', 'test', 'fixtures', 'prior', 'label_ids'))
    hps = R.setup_hparams((), dict(config, sample_length=config['n_ctx'] * HOPS[2]))
    vqvae = types.SimpleNamespace(l_bins=hps.l_bins, downs_t=hps.downs_t, strides_t=hps.strides_t,
                                  z_shapes=[(hps.n_ctx * HOPS[2] // h,) for h in HOPS], encode=None, decode=None)
    torch.manual_seed(0)
    prior = R.make_prior(hps, vqvae, 'cpu')
    params = sum(p.numel() for p in prior.parameters())
    if args.save:
        torch.save({'hps': dict(hps), 'model': prior.state_dict(), 'step': 0}, args.save)
    sample_tokens = None if args.tokens == hps.n_ctx else args.tokens
    # Warm-up (first-call allocations and lazy initialisation), as bench/sample.ts does for jukebox-ts.
    prior.sample(args.samples, z=None, z_conds=None, y=None, temp=1.0, top_k=1, top_p=0.0, sample_tokens=16)
    times, tokens = [], None
    for _ in range(args.repeats):
        torch.manual_seed(0)
        start = time.perf_counter()
        out = prior.sample(args.samples, z=None, z_conds=None, y=None, temp=1.0, top_k=1, top_p=0.0,
                           sample_tokens=sample_tokens)
        times.append(time.perf_counter() - start)
        if tokens is not None and not torch.equal(tokens, out):
            print('greedy tokens differ between repeats', file=sys.stderr)
            sys.exit(1)
        tokens = out
    best = min(times)
    print(json.dumps({
        'tokens_per_s': args.samples * args.tokens / best,
        'seconds': best,
        'all_seconds': times,
        'samples': args.samples,
        'tokens': args.tokens,
        'threads': args.threads,
        'params': params,
        'config': {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        'best_env': all(os.environ.get(k) for k in BEST_ENV) and not os.environ.get('OPENBLAS_CORETYPE')
                    and not os.environ.get('OPENBLAS_L2_SIZE'),
        'tokens_row0': tokens[0].tolist(),
        'torch': torch.__version__,
        'reference_commit': R.commit,
    }))


if __name__ == '__main__':
    main()
