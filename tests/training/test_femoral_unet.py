"""GeoPixelUNet: scripted forward equals eager, training outputs' shapes, plain variant has no extra heads."""

from __future__ import annotations

import torch

from training.femoral_unet import GeoPixelUNet

CHANNELS = (4, 8, 16)


def _net(channels: tuple[int, ...] = CHANNELS, geometric: bool = True, pixel: bool = True) -> GeoPixelUNet:
    return GeoPixelUNet(channels=channels, geometric=geometric, pixel=pixel, norm="instance", act="RELU")


def test_scripted_forward_equals_eager_and_returns_logits_only() -> None:
    torch.manual_seed(0)
    model = _net().eval()
    x = torch.randn(2, 1, 64, 64)
    scripted = torch.jit.script(model)
    eager = model(x)
    assert eager.shape == (2, 1, 64, 64)
    assert torch.allclose(scripted(x), eager, atol=1e-5)
    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    assert torch.allclose(frozen(x), eager, atol=1e-4)


def test_forward_train_outputs() -> None:
    model = _net(channels=(4, 8, 16, 32)).train()
    out = model.forward_train(torch.randn(2, 1, 64, 64))
    assert out.logits.shape == (2, 1, 64, 64)
    # One deep-supervision head per decoder scale coarser than the input, coarsest first.
    assert [tuple(d.shape) for d in out.deep_logits] == [(2, 1, 16, 16), (2, 1, 32, 32)]
    assert out.sdf is not None and out.sdf.shape == (2, 1, 64, 64)
    assert out.sdf.abs().max() <= 1.0


def test_plain_variant_is_exactly_the_plain_unet() -> None:
    torch.manual_seed(0)
    plain = _net(geometric=False, pixel=False)
    torch.manual_seed(0)
    full = _net(geometric=True, pixel=True)
    plain_keys = set(plain.state_dict())
    full_keys = set(full.state_dict())
    assert plain_keys < full_keys
    extra = full_keys - plain_keys
    assert extra and all(k.startswith(("deep_heads.", "sdf_head.")) for k in extra)
    assert not any(k.startswith(("deep_heads.", "sdf_head.")) for k in plain_keys)
    out = plain.forward_train(torch.randn(1, 1, 32, 32))
    assert out.deep_logits == [] and out.sdf is None
    # The shared trunk is the same network: same weights give the same inference output.
    full.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(1, 1, 32, 32)
    assert torch.equal(plain.eval()(x), full.eval()(x))


def test_each_flag_adds_only_its_head() -> None:
    geo = _net(geometric=True, pixel=False)
    pix = _net(geometric=False, pixel=True)
    assert geo.sdf_head is not None and len(geo.deep_heads) == 0
    assert pix.sdf_head is None and len(pix.deep_heads) == len(CHANNELS) - 2
