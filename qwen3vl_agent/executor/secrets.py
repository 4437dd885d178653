"""Secret values that reach the keyboard but nothing else: the model, logs and records see `{name}`.

A form-fill row's secret columns (password, PIN, IBAN ...) go into the prompt as a placeholder
such as `{password}`. The model types the placeholder; only the executor, at the moment it types,
replaces it with the real value (as browser-use's `sensitive_data` does for browsers). Everything
the executor reports (primitives, errors) is masked again, so the value is never written down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

MASK = "••••"


@dataclass(frozen=True)
class Secrets:
    """Placeholder name -> real value for one run (empty: nothing to substitute)."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.values)

    def placeholder(self, name: str) -> str:
        return "{" + name + "}"

    def substitute(self, text: str) -> str:
        """`text` with every `{name}` of a secret replaced by its value (others left alone)."""
        if not self.values or "{" not in text:
            return text
        names = "|".join(re.escape(n) for n in sorted(self.values, key=len, reverse=True))
        return re.sub(r"\{(" + names + r")\}", lambda m: self.values[m.group(1)], text)

    def mask(self, text: str) -> str:
        """`text` with every secret value (longest first) shown as ••••."""
        for value in sorted((v for v in self.values.values() if v), key=len, reverse=True):
            text = text.replace(value, MASK)
        return text
