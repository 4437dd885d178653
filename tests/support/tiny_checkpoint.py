"""Build the tiny, randomly initialised Qwen3-VL checkpoint the test engine serves.

Two faces in one file:

* Imported from the app's venv (which has no torch): `ensure_tiny_checkpoint(python, out_dir)`
  builds the checkpoint once, by running this file with the engine venv's interpreter, under a
  file lock, into a temporary folder that is renamed into place only when complete. A rerun
  finds the finished folder and returns at once.
* Run as a script with the engine venv's python: `python tiny_checkpoint.py OUT_DIR` writes
  config.json, random float32 weights (seeded: byte-identical between runs), a byte-level BPE
  tokenizer trained locally on CPython's stdlib sources with Qwen's 26 added tokens in Qwen's
  order, a Qwen3-VL style chat template and the image/video processor configs.

Shape (from the proven recipe): text hidden 64, 2 layers, 2 heads / 1 KV head, head_dim 32 (vLLM's
CPU attention takes 32, 64, 80, ...), interleaved mrope [6, 5, 5]; vision depth 2, hidden 64,
patch 16, merge 2. About 1.2 M parameters, 4.8 MB.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RECIPE_VERSION = "tiny-qwen3vl-1"
MARKER = "TINY_CHECKPOINT_OK"
SEED = 0
BPE_VOCAB = 4096

# Qwen2/Qwen3 added tokens in Qwen's id order (151643.. in the real vocab): (content, special).
QWEN_ADDED: list[tuple[str, bool]] = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True),
    ("<|box_start|>", True), ("<|box_end|>", True),
    ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True),
    ("<tool_call>", False), ("</tool_call>", False),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False), ("<|repo_name|>", False), ("<|file_sep|>", False),
    ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False),
]  # fmt: skip

QWEN_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen3-VL style chat template: each image becomes vision_start + image_pad + vision_end (the
# processor expands the pad to the image's patch tokens); tools render Qwen's <tool_call> block.
CHAT_TEMPLATE = r"""{%- macro render_content(content) -%}
{%- if content is string -%}{{- content -}}
{%- else -%}
{%- for item in content -%}
{%- if item.type == 'image' or item.type == 'image_url' or 'image' in item or 'image_url' in item -%}
{%- set image_count.value = image_count.value + 1 -%}
{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
<|vision_start|><|image_pad|><|vision_end|>
{%- elif item.type == 'video' or item.type == 'video_url' or 'video' in item -%}
{%- set video_count.value = video_count.value + 1 -%}
{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
<|vision_start|><|video_pad|><|vision_end|>
{%- elif 'text' in item -%}{{- item.text -}}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
{%- set image_count = namespace(value=0) -%}
{%- set video_count = namespace(value=0) -%}
{%- if tools -%}
{{- '<|im_start|>system\n' -}}
{%- if messages[0].role == 'system' -%}{{- render_content(messages[0].content) + '\n\n' -}}{%- endif -%}
{{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" -}}
{%- for tool in tools -%}{{- "\n" -}}{{- tool | tojson -}}{%- endfor -%}
{{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" -}}
{%- elif messages[0].role == 'system' -%}
{{- '<|im_start|>system\n' + render_content(messages[0].content) + '<|im_end|>\n' -}}
{%- endif -%}
{%- for message in messages -%}
{%- if message.role == 'system' and loop.first -%}
{%- elif message.role == 'user' or message.role == 'system' -%}
{{- '<|im_start|>' + message.role + '\n' + render_content(message.content) + '<|im_end|>\n' -}}
{%- elif message.role == 'assistant' -%}
{{- '<|im_start|>assistant\n' -}}
{%- if message.content -%}{{- render_content(message.content) -}}{%- endif -%}
{%- if message.tool_calls -%}
{%- for tool_call in message.tool_calls -%}
{%- if tool_call.function is defined -%}{%- set tool_call = tool_call.function -%}{%- endif -%}
{{- '\n<tool_call>\n{"name": "' + tool_call.name + '", "arguments": ' -}}
{%- if tool_call.arguments is string -%}{{- tool_call.arguments -}}{%- else -%}{{- tool_call.arguments | tojson -}}{%- endif -%}
{{- '}\n</tool_call>' -}}
{%- endfor -%}
{%- endif -%}
{{- '<|im_end|>\n' -}}
{%- elif message.role == 'tool' -%}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
{{- '\n<tool_response>\n' + render_content(message.content) + '\n</tool_response>' -}}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\n' -}}{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
"""


# --------------------------------------------------------------------------- app-venv side


def is_built(out_dir: Path) -> bool:
    marker = out_dir / MARKER
    return marker.is_file() and marker.read_text().strip() == RECIPE_VERSION


def ensure_tiny_checkpoint(python: Path, out_dir: Path, timeout_s: float = 600.0) -> Path:
    """Build the checkpoint into `out_dir` with the engine venv's `python` unless it is there."""
    if is_built(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest run may be building it right now
        if is_built(out_dir):
            return out_dir
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            proc = subprocess.run(
                [str(python), __file__, str(tmp)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=env,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"building the tiny checkpoint failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
                )
            if out_dir.exists():
                shutil.rmtree(out_dir)
            tmp.rename(out_dir)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


# --------------------------------------------------------------------------- engine-venv side


def _corpus() -> Any:
    """Local training text: CPython's stdlib sources plus a little chat/JSON prose."""
    import sysconfig

    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))[:400]
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                yield fh.read()
        except (OSError, UnicodeDecodeError):
            pass
    for _ in range(50):
        yield (
            '{"action": "left_click", "coordinate": [120, 340]} {"action": "type", "text": "hello"} '
            '{"action": "terminate", "status": "success"} Describe the image. What is shown on the '
            "screen? Click the button labelled OK. The quick brown fox jumps over the lazy dog."
        )


def _build_tokenizer(out_dir: str) -> tuple[Any, dict[str, int]]:
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import AutoTokenizer

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    base = tok.get_vocab_size()
    tok.add_tokens(
        [
            AddedToken(t, special=s, normalized=False, single_word=False, lstrip=False, rstrip=False)
            for t, s in QWEN_ADDED
        ]
    )
    ids = {t: tok.token_to_id(t) for t, _ in QWEN_ADDED}
    assert ids["<|endoftext|>"] == base and len(set(ids.values())) == len(QWEN_ADDED)

    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    special_names = [t for t, s in QWEN_ADDED if s and t != "<|endoftext|>"]
    tok_cfg = {
        "tokenizer_class": "Qwen2Tokenizer",
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(ids[t]): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": s,
            }
            for t, s in QWEN_ADDED
        },
        "additional_special_tokens": special_names,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": 262144,
        "split_special_tokens": False,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2)
    hf_tok = AutoTokenizer.from_pretrained(out_dir)
    for t, _ in QWEN_ADDED:
        assert hf_tok.convert_tokens_to_ids(t) == ids[t], t
    sample = "Hi <|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Click OK<|im_end|>"
    assert hf_tok.decode(hf_tok(sample)["input_ids"]) == sample
    return hf_tok, ids


def build(out_dir: str) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    torch.manual_seed(SEED)
    hf_tok, ids = _build_tokenizer(out_dir)
    vocab_size = ((len(hf_tok) + 127) // 128) * 128  # padded like Qwen's
    text_hidden = 64
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": text_hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "hidden_act": "silu",
            "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [6, 5, 5],  # sums to head_dim / 2
                "mrope_interleaved": True,
            },
            "attention_bias": False,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "in_channels": 3,
            "hidden_act": "gelu_pytorch_tanh",
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": text_hidden,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [0, 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    config.architectures = ["Qwen3VLForConditionalGeneration"]
    model = Qwen3VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    model.save_pretrained(out_dir, safe_serialization=True)

    image_processor = Qwen2VLImageProcessor(
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        size={"shortest_edge": 65536, "longest_edge": 16777216},  # Qwen3-VL defaults
    )
    video_processor = Qwen3VLVideoProcessor(
        patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    processor = Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=hf_tok,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    video_processor.save_pretrained(out_dir)
    hf_tok.chat_template = CHAT_TEMPLATE
    hf_tok.save_pretrained(out_dir)
    n_params = sum(p.numel() for p in model.parameters())
    Path(out_dir, MARKER).write_text(RECIPE_VERSION + "\n")
    print(f"built {out_dir}: {n_params:,} parameters, vocab {vocab_size}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tiny_checkpoint.py OUT_DIR")
    build(sys.argv[1])
