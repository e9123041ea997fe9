# SPDX-License-Identifier: BSD-2-Clause
"""golden.formats.huggingface against the real transformers library, both ways.

Import: tiny random BitNetForCausalLM and LlamaForCausalLM models built by transformers, their
projections quantized (absmean, as transformers' WeightQuant) and packed by transformers'
``pack_weights``, loaded by ``from_pretrained`` and written by ``save_pretrained``; then loaded
by transformers and by :func:`import_hf`, and their logits and greedy tokens compared. Export:
our models written by :func:`export_hf`, loaded by ``AutoModelForCausalLM``, compared the same
way. ``bitlinear`` checkpoints do the integer path's arithmetic, so their logits are compared
bit for bit; AutoBitLinear computes in float (see :data:`FLOAT_TOL`).

transformers runs offline and eager: TorchDynamo is off, so BitLinear's ``@torch.compile``
functions run as written (compiling them takes minutes on a CPU and lets Inductor reorder the
float arithmetic).
"""

import json
import shutil
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file

from golden.formats import export_hf, import_hf
from golden.formats.huggingface import DEFAULTS
from golden.model import Decoder, ModelConfig

#: Tiny shapes; theta and init large enough that a wrong RoPE base, norm or head shows.
HF_TINY = {"vocab_size": 256, "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64,
           "initializer_range": 0.2}
#: AutoBitLinear (offline and online) computes ``linear(x_q / s_x, w_t) * weight_scale`` in
#: float32 where we compute ``acc / (s_x * s_w)`` from an exact integer ``acc``: the outputs
#: differ by float32 rounding (about 1e-7 of the largest logit), until such a difference moves
#: an activation across an int8 rounding boundary: that code changes by one, and the positions
#: after it differ by more. Measured over 60 random inputs of these models: median |diff| at
#: most 3.1e-7 and max |diff| at most 1.5e-2 of the largest logit (a flip in 14 of 120).
#: Allowed: median 1e-5 (a wrong RoPE, norm or scale moves most logits) and max 5e-2.
FLOAT_TOL = {"median": 1e-5, "max": 5e-2}
PROMPT = [3, 141, 59, 26, 53, 58, 97, 93]


@pytest.fixture(scope="module")
def hf():
    """transformers, imported once per worker: offline, eager, quiet."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        import transformers

        with warnings.catch_warnings():
            # BitLinear's @torch.compile imports torch.utils.mkldnn, which uses a deprecated
            # torch.jit API (torch 2.13): not ours to fix, and a warning is an error here.
            warnings.filterwarnings("ignore", r"`torch\.jit\.script_method` is deprecated",
                                    DeprecationWarning)
            import transformers.integrations.bitnet
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        with torch._dynamo.config.patch(disable=True):
            yield transformers
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()


def tokens(seed=0):
    return torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(seed))


def hf_load(hf, directory):
    return hf.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()


def hf_logits(model, t):
    with torch.no_grad():
        return model(t).logits


def hf_greedy(model, prompt, n=8):
    out = model.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False,
                         attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    return out[0, len(prompt):].tolist()


def ours_logits(model, t):
    with torch.no_grad():
        return model(t)


def hf_checkpoint(hf, directory, *, arch, layout="bitlinear", quant=None, seed=0, **config):
    """A transformers checkpoint as transformers writes it: a random model built by transformers,
    quantized, loaded by ``from_pretrained`` and saved by ``save_pretrained``."""
    torch.manual_seed(seed)
    model_cls, config_cls = ((hf.BitNetForCausalLM, hf.BitNetConfig) if arch == "bitnet"
                             else (hf.LlamaForCausalLM, hf.LlamaConfig))
    model = model_cls(config_cls(**{**HF_TINY, **config}))
    raw = directory.parent / f"{directory.name}-raw"
    model.save_pretrained(raw)
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for key, value in load_file(str(raw / "model.safetensors")).items():
        if key.endswith("norm.weight"):  # transformers starts norms at one: that hides a swap
            value = 1 + 0.3 * torch.randn(value.shape, generator=gen)
        elif key.endswith("_proj.weight") and layout != "online":
            s = 1.0 / value.abs().mean().clamp(min=1e-5)
            packed = hf.integrations.bitnet.pack_weights((value * s).round().clamp(-1, 1))
            tensors[f"{key[:-len('weight')]}weight_scale"] = (
                s if layout == "bitlinear" else 1.0 / s).reshape(1)
            value = packed
        tensors[key] = value.contiguous()
    save_file(tensors, str(raw / "model.safetensors"), metadata={"format": "pt"})
    hf_config = json.loads((raw / "config.json").read_text())
    hf_config["quantization_config"] = {
        "quant_method": "bitnet", "modules_to_not_convert": None,
        "linear_class": "bitlinear" if layout == "bitlinear" else "autobitlinear",
        "quantization_mode": "online" if layout == "online" else "offline", **(quant or {})}
    (raw / "config.json").write_text(json.dumps(hf_config))
    # transformers cannot reverse its unpacking of AutoBitLinear's packed codes (no reverse_op):
    # it saves them as loaded, unpacked (N, K), when told not to restore the original format.
    hf_load(hf, raw).save_pretrained(directory, save_original_format=layout != "autobitlinear")
    return directory


#: (arch, weight layout, transformers config): both classes, RoPE bases 10000 and 500000 (by
#: default and given), tied and untied heads, grouped and plain KV heads, both activations.
IMPORTS = {
    "bitnet-defaults": ("bitnet", "bitlinear", {"num_key_value_heads": 2}),
    "bitnet-silu-tied-10000": ("bitnet", "bitlinear", {
        "hidden_act": "silu", "tie_word_embeddings": True, "num_key_value_heads": 4,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}),
    "llama-defaults": ("llama", "bitlinear", {}),
    "llama-relu2-tied-gqa-500000": ("llama", "bitlinear", {
        "hidden_act": "relu2", "tie_word_embeddings": True, "num_key_value_heads": 2,
        "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}),
    "bitnet-autobitlinear": ("bitnet", "autobitlinear", {"num_key_value_heads": 2}),
    "llama-online-tied": ("llama", "online", {"tie_word_embeddings": True}),
}


@pytest.fixture(scope="module")
def checkpoints(hf, tmp_path_factory):
    """Every checkpoint of :data:`IMPORTS`, built once per worker."""
    root = tmp_path_factory.mktemp("hf")
    return {name: hf_checkpoint(hf, root / name, arch=arch, layout=layout, seed=i, **config)
            for i, (name, (arch, layout, config)) in enumerate(IMPORTS.items())}


def assert_same_model(hf, directory, *, exact):
    """transformers and import_hf load ``directory`` into the same logits and greedy tokens."""
    theirs, ours = hf_load(hf, directory), import_hf(directory)
    t = tokens()
    a, b = hf_logits(theirs, t), ours_logits(ours, t)
    if exact:
        assert torch.equal(a, b), float((a - b).abs().max())
    else:
        diff = (a - b).abs() / a.abs().max()
        assert float(diff.median()) <= FLOAT_TOL["median"], float(diff.median())
        assert float(diff.max()) <= FLOAT_TOL["max"], float(diff.max())
    assert hf_greedy(theirs, PROMPT) == ours.generate(PROMPT, max_new_tokens=8)
    return ours


@pytest.mark.parametrize("name", list(IMPORTS))
def test_import_matches_transformers(hf, checkpoints, name):
    arch, layout, config = IMPORTS[name]
    ours = assert_same_model(hf, checkpoints[name], exact=layout == "bitlinear")
    theta = config.get("rope_parameters", {}).get("rope_theta", DEFAULTS[arch]["rope_theta"])
    assert ours.config.rope_theta == theta
    assert ours.config.subln == (arch == "bitnet")
    assert ours.config.tie_embeddings == config.get("tie_word_embeddings", False)
    if layout == "autobitlinear":  # saved unpacked, as transformers saves AutoBitLinear
        saved = load_file(str(checkpoints[name] / "model.safetensors"))
        assert saved["model.layers.0.mlp.down_proj.weight"].shape == (32, 64)


def edited(source, directory, edit=None, tensors_edit=None):
    """A copy of a checkpoint with its config.json (and tensors) edited."""
    shutil.copytree(source, directory)
    config = json.loads((directory / "config.json").read_text())
    if edit:
        edit(config)
    (directory / "config.json").write_text(json.dumps(config))
    if tensors_edit:
        tensors = load_file(str(directory / "model.safetensors"))
        tensors_edit(tensors)
        save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def _strip(config, *keys):
    for key in keys:
        config.pop(key, None)


@pytest.mark.parametrize(("name", "edit", "tensors_edit"), [
    # transformers 4.x configs: the base only at the top level; BitNet's default would be 5e5.
    ("bitnet-silu-tied-10000",
     lambda c: (c.pop("rope_parameters"), c.__setitem__("rope_theta", 10000.0)), None),
    # rope_parameters wins over the top-level key.
    ("bitnet-defaults", lambda c: c.__setitem__("rope_theta", 10000.0), None),
    # Every key with a default left out: the model type's own defaults.
    # (BitNet's default of 5 KV heads does not fit 4 heads: that one stays.)
    ("bitnet-defaults", lambda c: _strip(c, *(set(DEFAULTS["bitnet"]) - {"num_key_value_heads"}),
                                         "rope_parameters"), None),
    ("llama-defaults", lambda c: _strip(c, *DEFAULTS["llama"], "rope_parameters"), None),
    # Tied in the config, but a different head saved: transformers does not tie.
    ("bitnet-silu-tied-10000", None,
     lambda t: t.__setitem__("lm_head.weight", t["model.embed_tokens.weight"].flip(0))),
    # Tied, only the head saved: transformers ties the embedding to it.
    ("llama-relu2-tied-gqa-500000", None,
     lambda t: t.__setitem__("lm_head.weight", t.pop("model.embed_tokens.weight"))),
    # BitLinear holds packed codes whatever quantization_mode says.
    ("llama-defaults", lambda c: c["quantization_config"].__setitem__("quantization_mode",
                                                                      "online"), None),
], ids=["legacy-rope-theta", "rope-parameters-first", "bitnet-defaults", "llama-defaults",
        "tied-but-different-head", "tied-head-only", "bitlinear-online"])
def test_config_is_read_as_transformers_reads_it(hf, checkpoints, name, edit, tensors_edit,
                                                 tmp_path):
    directory = edited(checkpoints[name], tmp_path / "m", edit, tensors_edit)
    assert_same_model(hf, directory, exact=True)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c.__setitem__("rope_parameters", {"rope_type": "linear", "factor": 2.0}),
     "rope_parameters with rope_type 'linear'"),
    (lambda c: c.__setitem__("rope_scaling", {"type": "dynamic", "factor": 2.0}),
     "rope_scaling with rope_type 'dynamic'"),
    (lambda c: c["quantization_config"].__setitem__("quantization_mode", "dynamic"),
     "quantization_config.quantization_mode='dynamic'"),
    (lambda c: c["quantization_config"].__setitem__("linear_class", "linear"),
     "quantization_config.linear_class='linear'"),
    (lambda c: c.__setitem__("hidden_act", "gelu"), "hidden_act='gelu'"),
    (lambda c: c.__setitem__("attention_bias", True), "attention_bias=True"),
    (lambda c: c["quantization_config"].__setitem__("modules_to_not_convert", []),
     "does not name lm_head"),
    (lambda c: c["quantization_config"].__setitem__("modules_to_not_convert",
                                                    ["lm_head", "down_proj"]),
     r"keeps model\.layers\.0\.mlp\.down_proj in float"),
    # LLaMA's default is untied: a tied checkpoint (no lm_head saved) without the key has no head.
    (lambda c: c.pop("tie_word_embeddings"), "missing tensor 'lm_head.weight'"),
])
def test_what_is_not_implemented_is_refused(checkpoints, edit, message, tmp_path):
    directory = edited(checkpoints["llama-relu2-tied-gqa-500000"], tmp_path / "m", edit)
    with pytest.raises(ValueError, match=message):
        import_hf(directory)


def test_transformers_changes_what_is_refused(hf, checkpoints, tmp_path):
    """The refusals above are of real differences: transformers scales RoPE and refuses an
    unknown quantization mode."""
    source = checkpoints["llama-relu2-tied-gqa-500000"]
    scaled = edited(source, tmp_path / "scaled", lambda c: c.__setitem__(
        "rope_parameters", {"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0}))
    t = tokens()
    assert not torch.equal(hf_logits(hf_load(hf, scaled), t), hf_logits(hf_load(hf, source), t))
    with pytest.raises(ValueError, match="quantization_mode"):
        hf.BitNetQuantConfig(quantization_mode="dynamic")


def test_use_rms_norm_is_refused_by_name(hf, tmp_path):
    directory = hf_checkpoint(hf, tmp_path / "m", arch="llama", quant={"use_rms_norm": True})
    assert "model.layers.0.mlp.down_proj.rms_norm.weight" in load_file(
        str(directory / "model.safetensors"))
    with pytest.raises(ValueError, match=r"quantization_config\.use_rms_norm=True"):
        import_hf(directory)


def test_defaults_are_transformers_defaults(hf):
    for model_type, cls in (("llama", hf.LlamaConfig), ("bitnet", hf.BitNetConfig)):
        fields = cls.__dataclass_fields__
        for key, value in DEFAULTS[model_type].items():
            expected = cls.default_theta if key == "rope_theta" else (
                fields[key].default if key in fields else None)
            assert value == expected, (model_type, key)


# --- export --------------------------------------------------------------------------------------

#: Every block layout transformers expresses, tied and untied, grouped KV, both RoPE bases.
EXPORTS = {
    "llama-silu-tied": ({"act": "silu"}, "LlamaForCausalLM"),
    "llama-relu2-gqa-500000": ({"act": "relu2", "n_kv_heads": 2, "tie_embeddings": False,
                                "rope_theta": 500000.0}, "LlamaForCausalLM"),
    "bitnet-relu2-gqa-500000": ({"act": "relu2", "subln": True, "n_kv_heads": 2,
                                 "tie_embeddings": False, "rope_theta": 500000.0},
                                "BitNetForCausalLM"),
    "bitnet-silu-tied": ({"act": "silu", "subln": True}, "BitNetForCausalLM"),
}


@pytest.mark.parametrize("name", list(EXPORTS))
def test_export_loads_in_transformers(hf, name, tmp_path):
    options, cls = EXPORTS[name]
    model = Decoder(ModelConfig(vocab_size=256, dim=32, n_layers=2, n_heads=4, ffn_dim=64,
                                max_seq_len=64, init_std=0.2, **options), seed=5)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=gen))
    model.eval().set_int_mode(True)
    directory = export_hf(model, tmp_path / "m")
    theirs = hf_load(hf, directory)
    assert type(theirs).__name__ == cls
    assert theirs.config.bos_token_id is None and theirs.config.eos_token_id is None
    t = tokens(1)
    a, b = hf_logits(theirs, t), ours_logits(model, t)
    assert torch.equal(a, b), float((a - b).abs().max())
    assert hf_greedy(theirs, PROMPT) == model.generate(PROMPT, max_new_tokens=8)
    # and back: the same model.
    back = import_hf(directory)
    assert back.config == model.config
    assert torch.equal(ours_logits(back, t), b)
