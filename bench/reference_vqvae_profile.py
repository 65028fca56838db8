#!/usr/bin/env python3
"""Where the reference's (openai/jukebox, PyTorch CPU) VQ-VAE time goes, in bench/vqvae-profile.ts's shape.

    JUKEBOX_REF=/path/to/jukebox /usr/bin/python3 bench/reference_vqvae_profile.py [--seconds 10] [--repeats 3]

Builds the reference VQVAE with the published 5b hparams (random weights, as bench/reference_vqvae.py),
one thread, and times one encode (all levels) and one decode (level 0) of `--seconds` of audio per
layer kind: residual blocks (ReLU, dilated 3-tap conv, ReLU, 1x1 conv, residual add), the other
convolutions (strided, 3-tap), transposed convolutions and the codebook lookup (`quantise`: distances
to the 2048 codes and their argmin). The time is this process's user CPU time around each module's
forward (forward hooks); the rest of the pass (layout permutes, embedding lookup, ...) is "outside the
layers". Multiply-adds are counted as bench/vqvae-profile.ts counts them (the direct form, every tap).
After one warm-up pass, the repeat with the least total time is reported. Prints one JSON object.

For the reference at its best, run it as bench/vqvae-profile.ts --reference does, with
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
OPENBLAS_NUM_THREADS=1 (and OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset) in this process's environment.
"""
import argparse
import json
import os
import platform
import resource

import torch

from reference_vqvae import SR, build_5b


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def user_ms():
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime * 1000.0


class Profile:
    def __init__(self):
        self.entries = {}

    def record(self, key, ms, macs):
        e = self.entries.setdefault(key, {'calls': 0, 'cpu_ms': 0.0, 'macs': 0})
        e['calls'] += 1
        e['cpu_ms'] += ms
        e['macs'] += macs

    def table(self, total):
        rows = [{'layer': k, 'calls': e['calls'], 'cpu_ms': round(e['cpu_ms'], 1),
                 'share': f"{100 * e['cpu_ms'] / total:.1f}%",
                 'gflop_per_s': round(2 * e['macs'] / e['cpu_ms'] / 1e6, 1) if e['cpu_ms'] > 0 else 0}
                for k, e in self.entries.items()]
        inside = sum(e['cpu_ms'] for e in self.entries.values())
        rows.append({'layer': 'outside the layers (layout, embedding, framework)', 'calls': 0,
                     'cpu_ms': round(total - inside, 1), 'share': f'{100 * (total - inside) / total:.1f}%', 'gflop_per_s': 0})
        return sorted(rows, key=lambda r: -r['cpu_ms'])


def instrument(model, profile):
    """Forward hooks on the residual blocks, the convolutions outside them and the transposed
    convolutions; a wrapper around each bottleneck level's `quantise`."""
    from jukebox.vqvae.resnet import ResConv1DBlock
    nn = torch.nn
    inside_blocks = set()
    for m in model.modules():
        if isinstance(m, ResConv1DBlock):
            inside_blocks.update(id(c) for c in m.modules() if c is not m)

    def timed(module, key_macs):
        def pre(mod, inputs):
            mod._profile_start = user_ms()

        def post(mod, inputs, output):
            key, macs = key_macs(mod, inputs[0], output)
            profile.record(key, user_ms() - mod._profile_start, macs)
        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def block(mod, x, y):
        conv3, conv1 = [c for c in mod.modules() if isinstance(c, nn.Conv1d)]
        rows = x.shape[0] * x.shape[2]
        return (f'residual block (3-tap + 1x1) {conv3.in_channels}->{conv3.out_channels}->{conv1.out_channels}',
                rows * (3 * conv3.in_channels * conv3.out_channels + conv1.in_channels * conv1.out_channels))

    def conv(mod, x, y):
        k, s = mod.kernel_size[0], mod.stride[0]
        kind = 'dilated 3-tap conv' if k == 3 and s == 1 else f'conv k{k} s{s}'
        return (f'{kind} {mod.in_channels}->{mod.out_channels}',
                y.shape[0] * y.shape[2] * k * mod.in_channels * mod.out_channels)

    def conv_t(mod, x, y):
        return (f'transposed conv {mod.in_channels}->{mod.out_channels}',
                x.shape[0] * x.shape[2] * mod.in_channels * mod.out_channels * mod.kernel_size[0])

    for m in model.modules():
        if isinstance(m, ResConv1DBlock):
            timed(m, block)
        elif isinstance(m, nn.ConvTranspose1d):
            timed(m, conv_t)
        elif isinstance(m, nn.Conv1d) and id(m) not in inside_blocks:
            timed(m, conv)

    for level_block in model.bottleneck.level_blocks:
        quantise = level_block.quantise

        def timed_quantise(x, quantise=quantise, k=level_block.k):
            start = user_ms()
            out = quantise(x)
            profile.record('codebook scores + argmax', user_ms() - start, x.shape[0] * k.shape[0] * k.shape[1])
            return out
        level_block.quantise = timed_quantise


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, x, commit = build_5b(args.seconds)
    profile = Profile()
    instrument(model, profile)
    best = {}
    with torch.no_grad():
        for repeat in range(args.repeats + 1):  # the first pass warms up (oneDNN builds its kernels)
            profile.entries = {}
            start = user_ms()
            zs = model.encode(x)
            encode_ms = user_ms() - start
            encode = {'cpu_ms': round(encode_ms, 1), 'layers': profile.table(encode_ms)}
            profile.entries = {}
            start = user_ms()
            model.decode(zs[:1], start_level=0, end_level=1)
            decode_ms = user_ms() - start
            decode = {'cpu_ms': round(decode_ms, 1), 'layers': profile.table(decode_ms)}
            if repeat == 0:
                continue
            if 'encode' not in best or encode_ms < best['encode']['cpu_ms']:
                best['encode'] = encode
            if 'decode' not in best or decode_ms < best['decode']['cpu_ms']:
                best['decode'] = decode
    print(json.dumps({'machine': f'{cpu_model()}, load average {os.getloadavg()[0]:.2f}',
                      'audio_seconds': x.shape[1] / SR, 'threads': torch.get_num_threads(), 'torch': torch.__version__,
                      'reference_commit': commit, 'repeats': args.repeats, **best}, indent=2))


if __name__ == '__main__':
    main()
