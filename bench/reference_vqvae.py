#!/usr/bin/env python3
"""Times the reference implementation (openai/jukebox, PyTorch CPU) on the VQ-VAE benchmark.

    JUKEBOX_REF=/path/to/jukebox /usr/bin/python3 bench/reference_vqvae.py --seconds 10 --threads 2

Builds the reference VQVAE with the published 5b hparams (random weights: speed does not depend
on their values), encodes `--seconds` of audio at all levels and decodes level 0, and prints one
JSON line: {"encode_s": ..., "decode_s": ..., "threads": ..., "torch": ...}. bench/vqvae.ts runs
this beside the TypeScript timings.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'reference'))
from reference_import import import_reference  # noqa: E402


SR = 44100
"""The benchmark input's sample rate (5b's)."""


def build_5b(seconds):
    """The reference VQVAE with the 5b hparams (random weights and codebooks), the benchmark's
    input (`seconds` of a 220 Hz tone at 44.1 kHz, [1, T, 1]) and the reference's commit."""
    VQVAE, _, commit = import_reference()
    samples = int(seconds * SR) // 128 * 128
    torch.manual_seed(0)
    model = VQVAE(input_shape=(samples, 1), levels=3, downs_t=(3, 2, 2), strides_t=(2, 2, 2),
                  emb_width=64, l_bins=2048, mu=0.99, commit=0.02, spectral=0.0, multispectral=1.0,
                  multipliers=(2, 1, 1), use_bottleneck=True, width=32, depth=4, m_conv=1.0,
                  dilation_growth_rate=3, dilation_cycle=None, reverse_decoder_dilation=True).eval()
    for block in model.bottleneck.level_blocks:
        block.k = torch.randn(2048, 64)
    t = torch.arange(samples, dtype=torch.float32) / SR
    x = (0.3 * torch.sin(2 * 3.14159 * 220 * t)).view(1, samples, 1)
    return model, x, commit


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, x, commit = build_5b(args.seconds)
    encode_times, decode_times = [], []
    with torch.no_grad():
        for _ in range(args.repeats):
            start = time.perf_counter()
            zs = model.encode(x)
            encode_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.decode(zs[:1], start_level=0, end_level=1)
            decode_times.append(time.perf_counter() - start)
    print(json.dumps({'encode_s': min(encode_times), 'decode_s': min(decode_times), 'seconds': x.shape[1] / SR,
                      'threads': args.threads, 'torch': torch.__version__, 'reference_commit': commit}))


if __name__ == '__main__':
    main()
