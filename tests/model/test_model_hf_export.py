"""Hugging Face export: transformers loads the folder offline and computes the same logits."""

from __future__ import annotations

import json
import os

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing may be downloaded
transformers = pytest.importorskip("transformers")

from ccrefine.model.hf_export import export_hf, hf_target  # noqa: E402
from ccrefine.model.presets import get_preset  # noqa: E402

VOCAB = 97  # the tiny_model fixture's vocabulary


def load_hf(path):
    return transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()


@pytest.mark.parametrize(
    ("family", "overrides", "architecture"),
    [
        ("llama", {}, "LlamaForCausalLM"),
        ("llama", {"n_kv_heads": 2, "tie_embeddings": True, "rope_theta": 500000.0}, "LlamaForCausalLM"),
        ("gpt3", {}, "GPT2LMHeadModel"),
        ("falcon", {}, "FalconForCausalLM"),  # multi-query, Falcon-7B layout
        (
            "falcon",
            {"n_kv_heads": 2, "bias": True, "tie_embeddings": False},
            "FalconForCausalLM",
        ),  # 40B layout
        ("bloom", {}, "BloomForCausalLM"),
        ("bloom", {"d_model": 96, "n_heads": 6}, "BloomForCausalLM"),  # ALiBi slopes for 6 heads
    ],
)
def test_exported_logits_match(tiny_model, tmp_path, family, overrides, architecture):
    model = tiny_model(family, **overrides)
    assert export_hf(model, tmp_path) == architecture
    hf = load_hf(tmp_path)
    assert type(hf).__name__ == architecture
    tokens = torch.randint(0, VOCAB, (2, 23))
    with torch.no_grad():
        torch.testing.assert_close(hf(tokens).logits, model(tokens), atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", ["palm", "glm"])
def test_families_without_a_matching_architecture_are_refused(family):
    config = get_preset(family, "tiny", vocab_size=VOCAB)
    with pytest.raises(ValueError, match="no Hugging Face architecture computes this model exactly") as error:
        hf_target(config)
    if family == "palm":  # Falcon has the parallel multi-query block but a GELU MLP, not SwiGLU
        assert "FalconForCausalLM needs norm='layernorm' with norm_bias=True, ffn='gelu'" in str(error.value)
    else:
        assert "LlamaForCausalLM needs norm='rmsnorm', norm_placement='pre'" in str(error.value)


@pytest.fixture
def sentencepiece_model(tmp_path):
    """A LLaMA-style SentencePiece model trained on the spot: BPE, byte fallback, no normalisation and no
    whitespace collapsing (what LlamaTokenizer assumes)."""
    sentencepiece = pytest.importorskip("sentencepiece")
    corpus = tmp_path / "corpus.txt"
    lines = [
        f"the quick brown fox {i} jumps over the lazy dog, said the web page number {i}." for i in range(300)
    ]
    corpus.write_text("\n".join(lines))
    prefix = tmp_path / "spm"
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=320,
        model_type="bpe",
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        minloglevel=2,
    )
    return prefix.with_suffix(".model"), sentencepiece.SentencePieceProcessor(
        model_file=str(prefix) + ".model"
    )


def test_tokenizer_files_are_written(tiny_model, tmp_path, sentencepiece_model):
    source, processor = sentencepiece_model
    model = tiny_model("llama", vocab_size=processor.vocab_size())
    export_hf(model, tmp_path / "hf", tokenizer_model=source)
    assert (tmp_path / "hf" / "tokenizer.model").read_bytes() == source.read_bytes()
    tokenizer_config = json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "LlamaTokenizer"
    assert tokenizer_config["bos_token"] == processor.id_to_piece(processor.bos_id())
    assert tokenizer_config["eos_token"] == processor.id_to_piece(processor.eos_id())
    hf_config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert (hf_config["bos_token_id"], hf_config["eos_token_id"]) == (processor.bos_id(), processor.eos_id())


def test_tokenizer_mismatching_the_model_is_refused(tiny_model, tmp_path, sentencepiece_model):
    source, _ = sentencepiece_model
    with pytest.raises(ValueError, match="tokenizer has 320 pieces but the model's vocab_size is 97"):
        export_hf(tiny_model("llama"), tmp_path, tokenizer_model=source)


def _sentencepiece_protos_unreadable() -> str | None:
    """transformers converts tokenizer.model through SentencePiece's protobuf module; sentencepiece
    wheels built for a newer protobuf runtime than the installed one cannot be read."""
    try:
        from sentencepiece import sentencepiece_model_pb2  # noqa: F401
    except Exception as error:  # protobuf raises its own VersionError
        return f"transformers cannot read SentencePiece models here: {error}"
    return None


@pytest.mark.parametrize("tokenizer_class", ["AutoTokenizer", "LlamaTokenizer", "LlamaTokenizerFast"])
def test_exported_tokenizer_loads_offline_and_encodes_like_sentencepiece(
    tiny_model, tmp_path, sentencepiece_model, tokenizer_class
):
    reason = _sentencepiece_protos_unreadable()
    if reason:
        pytest.skip(reason)
    source, processor = sentencepiece_model
    export_hf(tiny_model("llama", vocab_size=processor.vocab_size()), tmp_path, tokenizer_model=source)
    tokenizer = getattr(transformers, tokenizer_class).from_pretrained(tmp_path, local_files_only=True)
    for text in ["the quick brown fox", "Über 42 lazy dogs!", "said  the page"]:
        assert tokenizer(text).input_ids == [processor.bos_id(), *processor.encode(text)]
