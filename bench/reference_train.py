#!/usr/bin/env python3
"""Times the reference implementation's VQ-VAE training step (openai/jukebox, PyTorch CPU).

    JUKEBOX_REF=/path/to/jukebox /usr/bin/python3 bench/reference_train.py --preset small --threads 2

Builds the reference VQVAE for one of the project's presets, then times forward (lmix,
multi-scale spectral and commit losses, EMA codebook update), backward and an Adam step on random
music-like batches, like jukebox/train.py's loop. Prints one JSON line with seconds per step.
bench/train.ts runs this beside the TypeScript trainer.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.distributed as torch_dist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'test', 'fixtures', 'reference'))
from reference_import import import_reference  # noqa: E402

PRESETS = {  # src/checkpoint/presets.ts
    'small': dict(sr=22050, downs_t=(3, 2, 2), emb_width=32, l_bins=512, width=16, depth=3),
    'tiny': dict(sr=22050, downs_t=(2, 1, 1), emb_width=16, l_bins=64, width=8, depth=2),
    '5b': dict(sr=44100, downs_t=(3, 2, 2), emb_width=64, l_bins=2048, width=32, depth=4),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--preset', default='small')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--window', type=int, default=32768)
    parser.add_argument('--steps', type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    VQVAE, _, commit = import_reference()
    from jukebox.hparams import setup_hparams
    p = PRESETS[args.preset]
    torch.manual_seed(0)
    model = VQVAE(input_shape=(args.window, 1), levels=3, downs_t=p['downs_t'], strides_t=(2, 2, 2), emb_width=p['emb_width'],
                  l_bins=p['l_bins'], mu=0.99, commit=0.02, spectral=0.0, multispectral=1.0, multipliers=(2, 1, 1),
                  use_bottleneck=True, width=p['width'], depth=p['depth'], m_conv=1.0, dilation_growth_rate=3,
                  dilation_cycle=None, reverse_decoder_dilation=True).train()
    hps = setup_hparams('', dict(sr=p['sr'], lmix_l2=1.0, lmix_linf=0.02, linf_k=2048))
    hps.bandwidth = {'l1': 0.2, 'l2': 0.05, 'spec': 40.0}
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, betas=(0.9, 0.999), eps=1e-8)
    t = torch.arange(args.window, dtype=torch.float32) / p['sr']
    with tempfile.TemporaryDirectory() as tmp:
        torch_dist.init_process_group('gloo', init_method=f'file://{tmp}/pg', rank=0, world_size=1)
        times = []
        cpu = []
        for step in range(args.steps + 1):
            f0 = 110.0 * (1 + step % 5)
            x = torch.stack([0.3 * torch.sin(2 * np.pi * f0 * (b + 1) * t) * torch.exp(-(t % 0.5) * 4)
                             for b in range(args.batch_size)]).view(args.batch_size, args.window, 1)
            start = time.perf_counter()
            cpu_start = time.process_time()
            _, loss, _ = model(x, hps, loss_fn='lmix')
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step > 0:  # the first step initialises the codebooks
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - cpu_start)
        torch_dist.destroy_process_group()
    print(json.dumps({'seconds_per_step': float(np.median(times)), 'cpu_seconds_per_step': float(np.median(cpu)), 'preset': args.preset, 'batch_size': args.batch_size,
                      'window': args.window, 'threads': args.threads, 'torch': torch.__version__, 'reference_commit': commit}))


if __name__ == '__main__':
    main()
