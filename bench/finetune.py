"""What fine-tuning Whisper costs on this machine: seconds per training step and per epoch of reviewed audio.

    python bench/finetune.py [--sizes tiny,base] [--batch 8] [--steps 3]

No Whisper weights in PyTorch format can be installed here, so each size is Whisper's own architecture (tiny: 4
layers of width 384; base: 6 of 512) initialised at random: the arithmetic of a training step, and so its time,
is that of the real model. Each step is a forward and backward pass over `--batch` 30 s windows (Whisper pads
every segment to 30 s) and an AdamW update, on the CPU threads the recogniser uses. Printed per size: parameters,
seconds per step (median of `--steps` after one warm-up), and the time of one epoch over 1,000 reviewed segments.
First it prints what the extra adds to the virtualenv: the size of the packages requirements/finetune.txt holds
beyond requirements/main.txt. Needs the finetune extra (pip install -e '.[finetune]').
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from pathlib import Path

from packaging.utils import canonicalize_name

LOCKS = Path(__file__).resolve().parents[1] / "requirements"

SIZES = {"tiny": (384, 4, 6), "base": (512, 6, 8)}


def locked(name: str) -> set[str]:
    lines = (LOCKS / f"{name}.txt").read_text().splitlines()
    return {canonicalize_name(line.split("==")[0]) for line in lines if "==" in line}


def extra_size_bytes() -> tuple[int, list[str]]:
    """Bytes on disk of the installed packages the finetune lock adds to the main one, and their names."""
    added = locked("finetune") - locked("main")
    total = 0
    for dist in importlib.metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) in added:
            total += sum(f.size or 0 for f in dist.files or [])
    return total, sorted(added)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="tiny,base")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    size, added = extra_size_bytes()
    print(f"the finetune extra adds {size / 1e9:.2f} GB to the virtualenv ({len(added)} packages: {', '.join(added)})")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, batch {args.batch} x 30 s windows\n")
    print(f"{'size':6} {'parameters':>11} {'s / step':>9} {'epoch of 1,000 segments':>25}")
    for name in args.sizes.split(","):
        width, layers, heads = SIZES[name]
        config = WhisperConfig(
            vocab_size=51864, num_mel_bins=80, d_model=width, encoder_layers=layers, decoder_layers=layers,
            encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=4 * width,
            decoder_ffn_dim=4 * width, decoder_start_token_id=50257, pad_token_id=50256, eos_token_id=50256,
        )  # fmt: skip
        model = WhisperForConditionalGeneration(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        mels = torch.randn(args.batch, 80, 3000)
        labels = torch.randint(0, 50000, (args.batch, 40))
        times = []
        for step in range(args.steps + 1):
            started = time.perf_counter()
            model(input_features=mels, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if step:
                times.append(time.perf_counter() - started)
        per_step = statistics.median(times)
        epoch = per_step * 1000 / args.batch
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:6} {params:10.1f}M {per_step:9.1f} {epoch / 60:20.0f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
