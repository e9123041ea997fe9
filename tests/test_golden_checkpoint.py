# SPDX-License-Identifier: BSD-2-Clause
"""Weight packing, the project's checkpoints, transformers' BitNet format, and bad checkpoints."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from golden.checkpoint import (
    export_hf,
    import_hf,
    load_model,
    pack_binary,
    pack_ternary,
    save_model,
    unpack_binary,
    unpack_ternary,
)
from golden.model import Decoder, ModelConfig

I8 = torch.int8
TINY = {"vocab_size": 256, "dim": 32, "n_layers": 2, "n_heads": 4, "ffn_dim": 64,
        "max_seq_len": 32, "init_std": 0.1}


def tiny(**options):
    return Decoder(ModelConfig(**{**TINY, **options}), seed=4).eval()


def logits(model, seed=0):
    t = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(t)


# --- packing -------------------------------------------------------------------------------------

def test_unpack_ternary_matches_the_transformers_docstring_example():
    # The worked example of transformers' unpack_weights docstring (integrations/bitnet.py).
    packed = torch.tensor([[0b10100001, 0b00011000],
                           [0b10010000, 0b00001010]], dtype=torch.uint8)
    expect = torch.tensor([[0, -1], [-1, 1], [-1, 1], [-1, 1], [1, 0], [0, -1], [1, -1],
                           [1, -1]], dtype=I8)
    assert torch.equal(unpack_ternary(packed, rows=8), expect)
    assert torch.equal(pack_ternary(expect), packed)


def test_pack_ternary_hand_worked_with_padding():
    # N = 5 -> ceil(5/4) = 2 packed rows; rows 0, 2, 4 live in packed row 0 (bits 0-1, 2-3,
    # 4-5), rows 1, 3 in packed row 1; codes w + 1; missing rows 5..7 are zero bits.
    w = torch.tensor([[1], [-1], [0], [1], [-1]], dtype=I8)
    packed = pack_ternary(w)
    assert packed.tolist() == [[0b00_00_01_10 | (0 << 4)], [0b00_00_10_00]]
    assert torch.equal(unpack_ternary(packed, rows=5), w)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (4, 3), (5, 7), (7, 2), (13, 11)])
def test_ternary_round_trip(n, k, rng):
    w = torch.from_numpy(rng.integers(-1, 2, size=(n, k)).astype("int8"))
    packed = pack_ternary(w)
    assert packed.shape == (-(-n // 4), k) and packed.dtype == torch.uint8
    assert torch.equal(unpack_ternary(packed, rows=n), w)


def test_pack_binary_hand_worked():
    # bit = (1 - w) / 2, LSB first: [1,-1,-1,1,1,1,1,-1 | -1] -> 0b10000110, 0b00000001.
    w = torch.tensor([[1, -1, -1, 1, 1, 1, 1, -1, -1]], dtype=I8)
    packed = pack_binary(w)
    assert packed.tolist() == [[0b10000110, 0b00000001]]
    assert torch.equal(unpack_binary(packed, cols=9), w)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (3, 7), (2, 8), (5, 9), (4, 17)])
def test_binary_round_trip(n, k, rng):
    w = torch.from_numpy(rng.choice([-1, 1], size=(n, k)).astype("int8"))
    packed = pack_binary(w)
    assert packed.shape == (n, -(-k // 8))
    assert torch.equal(unpack_binary(packed, cols=k), w)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: unpack_ternary(torch.tensor([[0b00_11_00_01]], dtype=torch.uint8), rows=4),
     r"illegal 2-bit code 3 .* for row 2, column 0 \(byte \[0, 0\], bits 4..5\)"),
    (lambda: unpack_ternary(torch.zeros(2, 3, dtype=torch.uint8), rows=9),
     r"holds 5 to 8 rows, not 9"),
    (lambda: unpack_ternary(torch.zeros(2, 3, dtype=torch.int8), rows=8), "must be a uint8"),
    (lambda: unpack_binary(torch.zeros(2, 2, dtype=torch.uint8), cols=8),
     r"holds 9 to 16 columns, not 8"),
    (lambda: pack_ternary(torch.tensor([[2]], dtype=I8)),
     r"must hold only \(-1, 0, 1\); found 2 at index \(0, 0\)"),
    (lambda: pack_binary(torch.tensor([[0]], dtype=I8)), r"must hold only \(-1, 1\); found 0"),
    (lambda: pack_ternary(torch.ones(2, 2)), "must be a signed integer tensor"),
])
def test_bad_packing_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


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
    assert torch.equal(unpack_ternary(q, rows=32), iw.w_t)
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
    (lambda c: c.__setitem__("hidden_size", 64), r"has shape \(256, 32\), expected \(256, 64\)"),
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
    ({"family": "b158", "act": "relu2"}, "neither a LLaMA block"),
    ({"family": "b158", "ffn_dim": 66}, "out_features=66, not a multiple of 4"),
])
def test_hf_export_refuses_what_it_cannot_represent(options, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        export_hf(tiny(**options), tmp_path)


def test_hf_import_without_config(tmp_path):
    with pytest.raises(ValueError, match=r"has no config\.json"):
        import_hf(tmp_path)
