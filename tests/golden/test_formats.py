# SPDX-License-Identifier: BSD-2-Clause
"""golden.formats: the project's checkpoints, transformers' BitNet format, and bad checkpoints."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from golden.contract.codecs import unpack_ternary
from golden.formats import export_hf, import_hf, load_model, save_model
from golden.model import Decoder, ModelConfig

TINY = {"vocab_size": 256, "dim": 32, "n_layers": 2, "n_heads": 4, "ffn_dim": 64,
        "max_seq_len": 32, "init_std": 0.1}


def tiny(**options):
    return Decoder(ModelConfig(**{**TINY, **options}), seed=4).eval()


def logits(model, seed=0):
    t = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(t)


# --- the project's format ------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"family": "b158"}, {"family": "b158", "weight_quant": "twn"},
    {"family": "bitnet1", "groups": 2}, {"family": "onebit"}, {"family": "float"},
    {"family": "b158", "subln": True, "act": "relu2", "n_kv_heads": 2,
     "tie_embeddings": False},
], ids=["b158", "twn", "bitnet1", "onebit", "float", "b158-2b4t"])
def test_save_load_round_trip(options, tmp_path):
    model = tiny(**options)
    if options["family"] != "float":
        model.set_int_mode(True)
    path = save_model(model, tmp_path / "m.safetensors", info={"note": "test"})
    loaded = load_model(path)
    assert loaded.config == model.config
    assert torch.equal(logits(loaded), logits(model))
    for name, layer in model.bitlinears().items():
        assert torch.equal(loaded.bitlinears()[name].int_weights().w_t, layer.int_weights().w_t)


def test_checkpoint_sizes_follow_the_bits(tmp_path):
    sizes = {}
    for family in ("b158", "bitnet1", "float"):
        model = tiny(family=family, dim=64, ffn_dim=256)
        sizes[family] = save_model(model, tmp_path / f"{family}.safetensors").stat().st_size
    # 2-bit codes take 1/16 and 1-bit codes 1/32 of float32; embeddings and norms stay float.
    linear = 2 * (4 * 64 * 64 + 3 * 64 * 256) * 4
    assert sizes["float"] - sizes["b158"] == pytest.approx(linear * 15 / 16, rel=0.05)
    assert sizes["b158"] - sizes["bitnet1"] == pytest.approx(linear / 32, rel=0.1)


def _rewrite(path, edit):
    tensors = load_file(str(path))
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    edit(tensors, meta)
    save_file(tensors, str(path), metadata=meta)


def _set_code_3(tensors, meta):
    packed = tensors["layers.1.mlp.up_proj.weight"]
    packed[2, 5] = packed[2, 5] | 0b11000000


@pytest.mark.parametrize(("edit", "message"), [
    (_set_code_3, r"packed layers.1.mlp.up_proj.weight holds the illegal 2-bit code 3 .* row 50,"
                  r" column 5"),
    (lambda t, m: t.pop("layers.0.attn.k_proj.weight_scale"),
     r"is missing tensor 'layers.0.attn.k_proj.weight_scale'"),
    (lambda t, m: t.pop("norm.weight"), r"is missing tensor 'norm.weight'"),
    (lambda t, m: t.__setitem__("layers.0.attn.q_proj.weight", torch.zeros(8, 31,
                                                                          dtype=torch.uint8)),
     r"tensor 'layers.0.attn.q_proj.weight' .* has shape \(8, 31\), expected \(8, 32\)"),
    (lambda t, m: t.__setitem__("embed.weight", torch.zeros(256, 16)),
     r"tensor 'embed.weight' .* has shape \(256, 16\), expected \(256, 32\)"),
    (lambda t, m: t["layers.0.mlp_norm.weight"].__setitem__(4, float("inf")),
     r"tensor 'layers.0.mlp_norm.weight' .* contains inf at index \(4,\)"),
    (lambda t, m: t.__setitem__("layers.0.attn.q_proj.weight",
                                t["layers.0.attn.q_proj.weight"].to(torch.int32)),
     r"tensor 'layers.0.attn.q_proj.weight' .* must be torch.uint8, not torch.int32"),
    (lambda t, m: t.__setitem__("extra", torch.zeros(1)), r"unexpected tensor\(s\) 'extra'"),
    (lambda t, m: m.__setitem__("format", "other"), "is not a golden checkpoint"),
    (lambda t, m: m.__setitem__("model_config", "{"), "has no valid model_config"),
    (lambda t, m: m.__setitem__("model_config", json.dumps({"family": "b158", "depth": 3})),
     r"unknown model configuration field\(s\): depth"),
])
def test_bad_checkpoint_names_the_problem(edit, message, tmp_path):
    path = save_model(tiny(family="b158"), tmp_path / "m.safetensors")
    _rewrite(path, edit)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_binary_checkpoint_with_a_bad_value_vector(tmp_path):
    path = save_model(tiny(family="onebit"), tmp_path / "m.safetensors")
    _rewrite(path, lambda t, m: t["layers.1.attn.o_proj.h"].__setitem__(0, float("nan")))
    with pytest.raises(ValueError, match=r"tensor 'layers.1.attn.o_proj.h' .* contains nan"):
        load_model(path)


def test_unreadable_or_unknown_checkpoints(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        load_model(junk)
    with pytest.raises(ValueError, match="not a file and not one of the shipped models"):
        load_model("tiny-b1.58")


# --- transformers' format ------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "model_type"), [
    ({}, "llama"),
    ({"subln": True, "act": "relu2", "n_kv_heads": 2, "tie_embeddings": False}, "bitnet"),
])
def test_hf_export_import_round_trip(options, model_type, tmp_path):
    model = tiny(family="b158", **options).set_int_mode(True)
    export_hf(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == model_type
    assert config["quantization_config"]["quant_method"] == "bitnet"
    tensors = load_file(str(tmp_path / "model.safetensors"))
    q = tensors["model.layers.0.self_attn.q_proj.weight"]
    assert q.dtype == torch.uint8 and q.shape == (32 // 4, 32)
    assert tensors["model.layers.0.self_attn.q_proj.weight_scale"].shape == (1,)
    iw = model.bitlinears()["layers.0.attn.q_proj"].int_weights()
    assert torch.equal(torch.from_numpy(unpack_ternary(q.numpy(), rows=32)), iw.w_t)
    assert ("model.layers.1.mlp.ffn_sub_norm.weight" in tensors) == (model_type == "bitnet")
    imported = import_hf(tmp_path)
    assert imported.config == model.config
    assert torch.equal(logits(imported), logits(model))


def test_hf_autobitlinear_scales_multiply_and_online_weights_are_latent(tmp_path):
    model = tiny(family="b158").set_int_mode(True)
    export_hf(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    tensors = load_file(str(tmp_path / "model.safetensors"))
    # autobitlinear multiplies by weight_scale: the same model stores 1 / s_w.
    config["quantization_config"]["linear_class"] = "autobitlinear"
    (tmp_path / "config.json").write_text(json.dumps(config))
    inverted = {k: (1.0 / v if k.endswith("weight_scale") else v) for k, v in tensors.items()}
    save_file(inverted, str(tmp_path / "model.safetensors"))
    imported = import_hf(tmp_path)
    for name, layer in model.bitlinears().items():
        s_in, s_out = layer.int_weights().s_w, imported.bitlinears()[name].int_weights().s_w
        assert torch.equal(imported.bitlinears()[name].int_weights().w_t,
                           layer.int_weights().w_t)
        assert float(s_out) == pytest.approx(float(s_in), rel=2 ** -22)  # two roundings
    # online: float weights quantized on the fly, exactly like our latent weights.
    latent = tiny(family="b158")
    config["quantization_config"]["quantization_mode"] = "online"
    (tmp_path / "config.json").write_text(json.dumps(config))
    floats = {k: v for k, v in tensors.items() if not k.endswith(("proj.weight", "weight_scale"))}
    names = {"attn": "self_attn", "mlp": "mlp"}
    for name, layer in latent.bitlinears().items():
        i, block, proj = name.split(".")[1:]
        floats[f"model.layers.{i}.{names[block]}.{proj}.weight"] = layer.weight.detach().clone()
    save_file(floats, str(tmp_path / "model.safetensors"))
    assert torch.equal(logits(import_hf(tmp_path)), logits(latent.set_int_mode(True)))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["quantization_config"].__setitem__("quant_method", "gptq"),
     "has quant_method 'gptq', not 'bitnet'"),
    (lambda c: c.__setitem__("model_type", "mistral"), "has model_type 'mistral'"),
    (lambda c: c.__setitem__("rope_scaling", {"type": "llama3"}), "rope_scaling"),
    (lambda c: c.pop("vocab_size"), "lacks the field 'vocab_size'"),
    (lambda c: c.__setitem__("num_attention_heads", "4"),
     "has num_attention_heads='4', not a positive integer"),
    (lambda c: c.__setitem__("num_key_value_heads", 3),
     "n_heads=4 must be a multiple of n_kv_heads=3"),
    (lambda c: c.__setitem__("vocab_size", 512), r"has shape \(256, 32\), expected \(512, 32\)"),
])
def test_bad_hf_checkpoint_names_the_problem(edit, message, tmp_path):
    export_hf(tiny(family="b158"), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    edit(config)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        import_hf(tmp_path)


@pytest.mark.parametrize(("options", "message"), [
    ({"family": "bitnet1"}, "holds b1.58 models with one absmean weight scale"),
    ({"family": "b158", "weight_quant": "twn"}, "weight_quant=twn"),
    ({"family": "b158", "ffn_dim": 66}, "out_features=66, not a multiple of 4"),
])
def test_hf_export_refuses_what_it_cannot_represent(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export_hf(tiny(**options), tmp_path)


def test_hf_import_without_config(tmp_path):
    with pytest.raises(ValueError, match=r"has no config\.json"):
        import_hf(tmp_path)
