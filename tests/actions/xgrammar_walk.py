"""Run under the engine venv: random "models" sampled through xgrammar's matcher for a schema.

Usage: python xgrammar_walk.py TOKENIZER_DIR SCHEMA_JSON_FILE N SEED
Prints a JSON list of N decoded outputs. Each token is drawn at random among those the grammar
allows (what structured output does to a random-weight model), so any output is possible.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch
import xgrammar as xgr
from transformers import AutoTokenizer


def main() -> None:
    tok_dir, schema_file, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    tok = AutoTokenizer.from_pretrained(tok_dir)
    info = xgr.TokenizerInfo.from_huggingface(tok)
    compiled = xgr.GrammarCompiler(info).compile_json_schema(
        Path(schema_file).read_text(), any_whitespace=False, strict_mode=True
    )
    gen = torch.Generator().manual_seed(seed)
    random.seed(seed)
    outs = []
    for _ in range(n):
        matcher = xgr.GrammarMatcher(compiled)
        mask = xgr.allocate_token_bitmask(1, info.vocab_size)
        ids: list[int] = []
        while not matcher.is_terminated() and len(ids) < 600:
            matcher.fill_next_token_bitmask(mask)
            logits = torch.randn(1, info.vocab_size, generator=gen)
            xgr.apply_token_bitmask_inplace(logits, mask)
            token = int(torch.argmax(logits))
            if not matcher.accept_token(token):
                raise SystemExit(f"grammar refused its own token {token}")
            ids.append(token)
        outs.append(tok.decode([t for t in ids if t != tok.eos_token_id]))
    print(json.dumps(outs))


if __name__ == "__main__":
    main()
