#!/usr/bin/env python3
"""Times the reference implementation's prior training step (openai/jukebox, PyTorch CPU).

    JUKEBOX_REF=/path/to/jukebox /usr/bin/python3 bench/reference_train_prior.py --config '<json>' --threads 2

Builds the reference prior with `make_prior` from the hps overrides in --config (the same fields
bench/train-prior.ts gives the TypeScript trainer), then times `z_forward` + `loss.backward()` +
gradient clipping + an Adam step on random codes with real label rows, like jukebox/train.py's
loop (its apex FusedAdam needs CUDA; torch.optim.Adam does the same update on the CPU). Prints
one JSON line with seconds per step.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'test', 'fixtures', 'prior')
sys.path.insert(0, os.path.join(HERE, '..', 'test', 'fixtures', 'reference'))
sys.path.insert(0, FIXTURES)
from reference_import import import_reference_priors  # noqa: E402
from make_prior_fixtures import contiguous_prime_loss, fake_vqvae  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', required=True, help='hps overrides as JSON')
    parser.add_argument('--metas', required=True, help='label metadata per batch row as JSON')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    R = import_reference_priors(os.path.join(FIXTURES, 'label_ids'))
    overrides = json.loads(args.config)
    for key in ('downs_t', 'strides_t', 'y_bins'):
        overrides[key] = tuple(overrides[key])
    hops = np.cumprod([s ** d for s, d in zip(overrides['strides_t'], overrides['downs_t'])])
    hps = R.setup_hparams((), dict(overrides, train=True, sample_length=overrides['n_ctx'] * int(hops[overrides['level']])))
    torch.manual_seed(0)
    prior = R.make_prior(hps, fake_vqvae(hps), 'cpu')
    prior.train()
    contiguous_prime_loss(prior)
    metas = json.loads(args.metas)
    batch = len(metas)
    y = prior.get_y(prior.labeller.get_batch_labels(metas, 'cpu'), 0)
    opt = torch.optim.Adam(prior.parameters(), lr=3e-4, betas=(0.9, 0.999), eps=1e-8)
    g = torch.Generator().manual_seed(1)
    times = []
    cpu = []
    for step in range(args.steps + 1):
        z = torch.randint(0, hps.l_bins, (batch, hps.n_ctx), generator=g)
        start = time.perf_counter()
        cpu_start = time.process_time()
        loss, _metrics = prior.z_forward(z, [], y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
        opt.step()
        if step > 0:  # the first step allocates everything
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
    print(json.dumps({'seconds_per_step': float(np.median(times)), 'cpu_seconds_per_step': float(np.median(cpu)), 'threads': args.threads, 'torch': torch.__version__,
                      'parameters': sum(p.numel() for p in prior.parameters()), 'reference_commit': R.commit}))


if __name__ == '__main__':
    main()
