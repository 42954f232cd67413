"""Load a trained model and its tokenizer for evaluation.

Accepted paths: a `Decoder.save` folder (config.json + model.safetensors), a trainer checkpoint
(OUTPUT/checkpoints/step-N), the checkpoints folder (its `latest` complete checkpoint) or the run folder OUTPUT.
A DeepSpeed checkpoint becomes one fp32 state dict: ZeRO 1-3 (and bf16) checkpoints keep the fp32 weights
partitioned in their optimizer files, which DeepSpeed's zero_to_fp32 consolidates; a ZeRO-0 fp32 checkpoint
holds them whole in the module states.

The tokenizer is the one the model was trained with: a `--tokenizer` given, else tokenizer.model in a
Decoder.save folder, else the copy next to the manifest named in the run's config.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from ccrefine.model import Decoder, ModelConfig
from ccrefine.model.decoder import CONFIG_FILE, WEIGHTS_FILE
from ccrefine.pipelines.config_files import read_yaml
from ccrefine.trainer.checkpoints import STATE_FILE, latest_checkpoint
from ccrefine.transforms.tokens.encoding import DocumentTokenizer

from ccrefine.errors import UsageError

TOKENIZER_FILE = "tokenizer.model"
MODULE_STATES = "mp_rank_00_model_states.pt"


@dataclass
class LoadedModel:
    model: Decoder
    tokenizer: DocumentTokenizer
    seq_len: int  # the context to score with: the trained seq_len when known, else the model's maximum
    name: str  # what was loaded, for reports


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> torch.dtype:
    """bf16 on GPUs that have it (what the trainer trains in), fp32 elsewhere."""
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_for_eval(path: str | Path, tokenizer: str | Path | None = None, device: str | None = None,
                  dtype: torch.dtype | None = None) -> LoadedModel:
    path = Path(path)
    device = device or default_device()
    if (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
        model = Decoder.load(path)
        seq_len, name = model.config.max_seq_len, str(path)
        tokenizer_path = Path(tokenizer) if tokenizer else path / TOKENIZER_FILE
    else:
        step = trainer_checkpoint(path)
        state = json.loads((step / STATE_FILE).read_text())
        model = Decoder(ModelConfig.from_dict(state["model"]))
        model.load_state_dict(consolidated_state_dict(step))
        seq_len, name = state["seq_len"], f"{step.parent.parent.name}/{step.name}"
        tokenizer_path = Path(tokenizer) if tokenizer else manifest_tokenizer(step.parent.parent)
    model = model.to(device=device, dtype=dtype or default_dtype(device)).eval()
    return LoadedModel(model, read_tokenizer(tokenizer_path, model.config.vocab_size), seq_len, name)


def trainer_checkpoint(path: Path) -> Path:
    """The complete step-N folder that `path` names: itself, the latest in a checkpoints folder or run folder."""
    if (path / STATE_FILE).is_file():
        return path
    for folder in (path, path / "checkpoints"):
        found = latest_checkpoint(folder) if folder.is_dir() else None
        if found is not None:
            return found.path
    raise UsageError(f"{path} is neither a Decoder.save folder ({CONFIG_FILE} + {WEIGHTS_FILE}) nor a trainer "
                     f"checkpoint (OUTPUT, OUTPUT/checkpoints or OUTPUT/checkpoints/step-N with {STATE_FILE})")


def consolidated_state_dict(step: Path) -> dict[str, torch.Tensor]:
    """fp32 weights of a DeepSpeed checkpoint folder, whatever its ZeRO stage."""
    if any(step.glob("*zero_pp_rank_*_optim_states.pt")):
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        return get_fp32_state_dict_from_zero_checkpoint(str(step.parent), tag=step.name)
    # weights_only=False: the file also holds the trainer's client state (RNG states, numpy arrays), and it is
    # our own checkpoint. mmap keeps the optimizer moments stored beside the weights on disk.
    states = torch.load(step / MODULE_STATES, map_location="cpu", weights_only=False, mmap=True)
    return {name: tensor.float() for name, tensor in states["module"].items()}


def manifest_tokenizer(run: Path) -> Path:
    """The tokenizer copy beside the manifest a trainer run was trained on."""
    config = run / "config.yaml"
    if config.is_file():
        try:
            tokenizer = Path(read_yaml(config, "run config")["train"]["data"]["manifest"]).parent / TOKENIZER_FILE
        except (KeyError, TypeError):  # not the config.yaml a trainer run writes: the message below says so
            tokenizer = None
        if tokenizer is not None and tokenizer.is_file():
            return tokenizer
    raise UsageError(f"cannot find the tokenizer of {run}: its config.yaml names no manifest folder holding "
                     f"{TOKENIZER_FILE} (moved, or a relative path from another directory); pass --tokenizer")


def read_tokenizer(path: Path, vocab_size: int) -> DocumentTokenizer:
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise UsageError(f"tokenizer {path} does not exist; pass --tokenizer TOKENIZER.model (the one the model "
                         "was trained with)")
    tokenizer = DocumentTokenizer(path.read_bytes())
    if tokenizer.vocab_size != vocab_size:
        raise UsageError(f"tokenizer {path} has {tokenizer.vocab_size} ids but the model has {vocab_size}; pass "
                         "the tokenizer the model was trained with (--tokenizer)")
    return tokenizer
