#!/usr/bin/env python3
"""Write the quantization fixtures in crates/core/tests/fixtures/quant/.

The oracle is the numpy reference in the `gguf` Python package (gguf-py, maintained with
llama.cpp): `gguf.quants.dequantize` and `gguf.quants.quantize`. For every type the Rust
dequantizer covers, this writes

  <type>.bin   raw row bytes: a few blocks of random bytes whose f16 scales are set to valid
               (finite, some subnormal) values, followed, for the types gguf-py can quantize,
               by blocks that gguf.quants.quantize made from <type>.in.f32
  <type>.f32   gguf.quants.dequantize(<type>.bin) as little-endian f32
  <type>.in.f32  (quantizable types only) the f32 values that were quantized

and manifest.json, which lists the files, element counts and the package versions used.
`crates/core/tests/quant_fixtures.rs` checks `tt_core::quant` against them bit for bit.

Regenerate (deterministic for given gguf/numpy versions):

    pip install gguf numpy
    python3 scripts/gen-quant-fixtures.py
"""

import importlib.metadata
import json
import pathlib

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/quant"

# Byte offsets of the f16 scale fields inside one block (see the block structs in
# crates/core/src/quant/); every other byte may be anything.
F16_FIELDS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
    T.IQ4_NL: [0],
    T.IQ4_XS: [0],
}

# Types gguf-py can quantize (reference quantizers).
QUANTIZABLE = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]

RANDOM_BLOCKS_32 = 4  # for 32-value blocks
RANDOM_BLOCKS_256 = 2  # for K-quants and IQ4_XS
QUANTIZED_BLOCKS = 3  # blocks made by gguf.quants.quantize


def f16_scales(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 scales of both signs: mostly 1e-4..10, a few subnormal."""
    mag = 10.0 ** rng.uniform(-4, 1, n)
    mag[rng.random(n) < 0.15] = rng.uniform(1e-7, 6e-5)  # f16 subnormals
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return (mag * sign).astype(np.float16)


def random_row(rng: np.random.Generator, qtype: T) -> np.ndarray:
    """A row of random blocks as uint8."""
    if qtype == T.F32:
        return rng.normal(0, 3, 64).astype(np.float32).view(np.uint8)
    if qtype == T.F16:
        return f16_scales(rng, 64).view(np.uint8)
    if qtype == T.BF16:
        bits = rng.normal(0, 3, 64).astype(np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16).view(np.uint8)
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = RANDOM_BLOCKS_32 if block_size == 32 else RANDOM_BLOCKS_256
    blocks = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        blocks[:, off : off + 2] = f16_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return blocks.reshape(-1)


def quantize_input(rng: np.random.Generator, qtype: T) -> np.ndarray:
    """Values to quantize: blocks at different magnitudes, plus (Q8_0) a block of exact
    rounding ties (amax = 127 makes the scale 1, so k + 0.5 stays a tie)."""
    n = 32 * QUANTIZED_BLOCKS
    x = rng.normal(0, 1, n) * np.repeat(10.0 ** rng.uniform(-3, 2, QUANTIZED_BLOCKS), 32)
    if qtype == T.Q8_0:
        ties = np.arange(32, dtype=np.float64) - 16.5
        ties[0] = 127.0
        x = np.concatenate([x, ties])
    return x.astype(np.float32)


def main() -> None:
    rng = np.random.default_rng(20261003)
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "scripts/gen-quant-fixtures.py",
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "types": [],
    }
    types = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
             T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.IQ4_NL, T.IQ4_XS]
    for qtype in types:
        name = qtype.name.lower().replace("_k", "_K")
        row = random_row(rng, qtype)
        entry = {"type": name, "random_bytes": int(row.size)}
        if qtype in QUANTIZABLE:
            x = quantize_input(rng, qtype)
            q = np.asarray(gguf.quants.quantize(x, qtype)).view(np.uint8).reshape(-1)
            (OUT / f"{name}.in.f32").write_bytes(x.astype("<f4").tobytes())
            entry["quantized_from"] = f"{name}.in.f32"
            entry["quantized_elements"] = int(x.size)
            row = np.concatenate([row, q])
        values = gguf.quants.dequantize(row, qtype).astype(np.float32).reshape(-1)
        (OUT / f"{name}.bin").write_bytes(row.tobytes())
        (OUT / f"{name}.f32").write_bytes(values.astype("<f4").tobytes())
        entry.update({"bytes": f"{name}.bin", "dequantized": f"{name}.f32", "elements": int(values.size)})
        manifest["types"].append(entry)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(manifest['types'])} types, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
