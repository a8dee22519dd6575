"""EdgeConnect without the real weights: official-format checkpoints are built from our own modules (seeded,
random), written under the official file names and loaded back with strict=True. Checks the layout (keys and
parameter counts of the original), the loader's errors, and the pipeline's conventions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import dip_bench.baselines.edgeconnect as edgeconnect
from dip_bench.contract import UserError
from dip_bench.baselines.edgeconnect.networks import EdgeGenerator, InpaintGenerator
from dip_bench.baselines.edgeconnect.pipeline import edgeconnect_inpaint
from dip_bench.baselines.edgeconnect.weights import EDGE_FILE, INPAINT_FILE, load_generator


def _seeded(cls: type[torch.nn.Module], seed: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls().eval()


@pytest.fixture(autouse=True)
def _no_env_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(edgeconnect.ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def sources() -> tuple[torch.nn.Module, torch.nn.Module]:
    return _seeded(EdgeGenerator, 0), _seeded(InpaintGenerator, 1)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory, sources) -> Path:
    """A folder named like the official places2 checkpoints; the edge file in the legacy (non-zip) format and
    the inpaint file with a DataParallel ``module.`` prefix."""
    folder = tmp_path_factory.mktemp("ec") / "places2"
    folder.mkdir()
    edge, inpaint = sources
    torch.save({"iteration": 11, "generator": edge.state_dict()}, folder / EDGE_FILE,
               _use_new_zipfile_serialization=False)
    prefixed = {f"module.{key}": value for key, value in inpaint.state_dict().items()}
    torch.save({"iteration": 12, "generator": prefixed}, folder / INPAINT_FILE)
    return folder


@pytest.fixture(scope="module")
def model(weights: Path) -> edgeconnect.EdgeConnectInpainter:
    return edgeconnect.make(weights=str(weights))


def _image(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([x, y, (x > 0.5) * 0.8], axis=-1)[..., :channels]
    return np.clip(base + 0.05 * rng.random(base.shape), 0, 1).astype(np.float32)


def _mask(height: int, width: int) -> np.ndarray:
    mask = np.ones((height, width), dtype=bool)
    mask[height // 4:height // 2, width // 5:4 * width // 5] = False
    mask[:, width // 2:width // 2 + 3] = False
    return mask


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_official_layout(sources) -> None:
    edge, inpaint = sources
    edge_keys, inpaint_keys = edge.state_dict().keys(), inpaint.state_dict().keys()
    assert (len(edge_keys), _n_params(edge)) == (70, 10_761_089)
    assert (len(inpaint_keys), _n_params(inpaint)) == (44, 10_774_595)
    for key in ("encoder.1.weight_orig", "encoder.1.weight_u", "encoder.1.weight_v", "encoder.1.bias",
                "middle.7.conv_block.5.weight_v", "decoder.3.weight_orig", "decoder.7.weight", "decoder.7.bias"):
        assert key in edge_keys
    assert "middle.0.conv_block.1.bias" not in edge_keys  # residual convs of the edge model have no bias
    for key in ("encoder.7.weight", "middle.0.conv_block.1.bias", "middle.7.conv_block.5.weight", "decoder.7.bias"):
        assert key in inpaint_keys
    assert not any("running" in key for key in [*edge_keys, *inpaint_keys])  # InstanceNorm keeps no state


def test_generator_shapes_and_ranges(sources) -> None:
    edge, inpaint = sources
    with torch.no_grad():
        edges = edge(torch.rand(2, 3, 32, 48))
        rgb = inpaint(torch.rand(2, 4, 32, 48))
    assert edges.shape == (2, 1, 32, 48) and 0 < edges.min() and edges.max() < 1
    assert rgb.shape == (2, 3, 32, 48) and 0 <= rgb.min() and rgb.max() <= 1
    with pytest.raises(ValueError, match="multiples of 4"):
        edge(torch.rand(1, 3, 30, 32))


def test_loaded_nets_equal_the_saved_ones(model, sources) -> None:
    edge, inpaint = sources
    x3, x4 = torch.rand(1, 3, 24, 28), torch.rand(1, 4, 24, 28)
    u_before = model.edge_net.encoder[1].weight_u.clone()
    with torch.no_grad():
        assert torch.equal(model.edge_net(x3), edge(x3))
        assert torch.equal(model.inpaint_net(x4), inpaint(x4))
    assert not model.edge_net.training and not model.inpaint_net.training
    assert torch.equal(model.edge_net.encoder[1].weight_u, u_before)  # eval: no power iteration


@pytest.mark.parametrize("height, width, channels", [(64, 64, 3), (64, 64, 1), (66, 70, 3), (66, 70, 1)])
def test_pipeline_shape_range_known_pixels(model, height: int, width: int, channels: int) -> None:
    image, mask = _image(height, width, channels), _mask(height, width)
    output, record = model(image, mask)
    assert output.shape == image.shape and output.dtype == np.float32
    assert 0 <= output.min() and output.max() <= 1
    np.testing.assert_array_equal(output[mask], image[mask])
    assert not np.array_equal(output[~mask], image[~mask])
    assert record["iterations"] == 0 and record["device"] == "cpu" and record["seconds"] > 0
    assert record["variant"] == "places2" and record["merge_edges"] is False and record["sigma"] == 2.0
    assert (record["edge_iteration"], record["inpaint_iteration"]) == (11, 12)


def test_pipeline_is_deterministic_and_ignores_hole_pixels(model) -> None:
    image, mask = _image(64, 64, 3), _mask(64, 64)
    first, _ = model(image, mask)
    second, _ = model(image, mask)
    np.testing.assert_array_equal(first, second)
    changed = image.copy()
    changed[~mask] = np.random.default_rng(5).random(changed[~mask].shape, dtype=np.float32)
    third, _ = model(changed, mask)
    np.testing.assert_array_equal(first, third)


def test_pipeline_follows_the_official_inputs(model, sources) -> None:
    """The composited result equals the nets run by hand on the documented inputs (multiple-of-4 size)."""
    from skimage.color import rgb2gray
    from skimage.feature import canny

    edge, inpaint = sources
    image, mask = _image(32, 40, 3), _mask(32, 40)
    m = torch.from_numpy((~mask).astype(np.float32))[None, None]
    filled = np.where(mask[..., None], image, 0).astype(np.float64)
    gray = torch.from_numpy(rgb2gray(filled).astype(np.float32))[None, None]
    edges = torch.from_numpy(canny(rgb2gray(filled), sigma=2, mask=mask).astype(np.float32))[None, None]
    rgb = torch.from_numpy(filled.astype(np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        predicted = edge(torch.cat((gray * (1 - m) + m, edges * (1 - m), m), dim=1))
        out = inpaint(torch.cat((rgb * (1 - m) + m, predicted), dim=1))
    expected = out[0].permute(1, 2, 0).numpy()
    output, _ = model(image, mask)
    np.testing.assert_allclose(output[~mask], expected[~mask], atol=1e-6)
    merged = edgeconnect_inpaint(model.edge_net, model.inpaint_net, image, mask, merge_edges=True)
    assert not np.array_equal(merged, output)


def test_merge_edges_is_recorded(weights: Path) -> None:
    _, record = edgeconnect.make(weights=str(weights), merge_edges=True, variant="celeba")(
        _image(32, 32, 3), _mask(32, 32))
    assert record["merge_edges"] is True and record["variant"] == "celeba"


def test_no_weights_is_unavailable_and_make_refuses() -> None:
    assert edgeconnect.unavailable_reason() == "no EdgeConnect weights (see README for where to get them)"
    with pytest.raises(UserError) as error:
        edgeconnect.make()
    assert str(error.value) == "no EdgeConnect weights (see README for where to get them)"


def test_folder_lacking_a_file(tmp_path: Path, weights: Path) -> None:
    (tmp_path / EDGE_FILE).write_bytes((weights / EDGE_FILE).read_bytes())
    reason = edgeconnect.unavailable_reason(weights=str(tmp_path))
    assert reason is not None and INPAINT_FILE in reason and EDGE_FILE not in reason
    with pytest.raises(UserError, match=INPAINT_FILE):
        edgeconnect.make(weights=str(tmp_path))
    assert "does not exist" in edgeconnect.unavailable_reason(weights=str(tmp_path / "nowhere"))


def test_environment_variable(monkeypatch: pytest.MonkeyPatch, weights: Path) -> None:
    monkeypatch.setenv(edgeconnect.ENV_VAR, str(weights))
    assert edgeconnect.unavailable_reason() is None
    assert edgeconnect.make().info["weights"] == str(weights)


@pytest.mark.parametrize("change, named", [
    (lambda sd: sd.pop("middle.3.conv_block.1.weight_v"), "missing middle.3.conv_block.1.weight_v"),
    (lambda sd: sd.__setitem__("middle.8.conv_block.1.weight_orig", torch.zeros(1)),
     "unexpected middle.8.conv_block.1.weight_orig"),
])
def test_key_mismatch_is_refused_with_the_key_named(tmp_path: Path, sources, change, named: str) -> None:
    state = dict(sources[0].state_dict())
    change(state)
    path = tmp_path / EDGE_FILE
    torch.save({"iteration": 0, "generator": state}, path)
    with torch.device("meta"):
        net = EdgeGenerator()
    with pytest.raises(ValueError, match=named) as error:
        load_generator(net, path)
    assert str(path) in str(error.value)


def test_shape_mismatch_and_wrong_file_are_value_errors(tmp_path: Path, sources) -> None:
    state = dict(sources[1].state_dict())
    state["decoder.7.bias"] = torch.zeros(4)
    path = tmp_path / INPAINT_FILE
    torch.save({"iteration": 0, "generator": state}, path)
    with pytest.raises(ValueError, match="decoder.7.bias"):
        load_generator(InpaintGenerator(), path)
    torch.save(sources[1].state_dict(), path)  # a bare state dict, not the official checkpoint dict
    with pytest.raises(ValueError, match="generator"):
        load_generator(InpaintGenerator(), path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        load_generator(InpaintGenerator(), path)
    with pytest.raises(UserError, match="absent.pth"):
        load_generator(InpaintGenerator(), tmp_path / "absent.pth")


def test_bad_parameters_and_inputs(model, weights: Path) -> None:
    with pytest.raises(ValueError, match="variant"):
        edgeconnect.make(weights=str(weights), variant="imagenet")
    with pytest.raises(ValueError, match="sigma"):
        edgeconnect.make(weights=str(weights), sigma=0)
    with pytest.raises(ValueError, match="merge_edges"):
        edgeconnect.make(weights=str(weights), merge_edges="yes")
    with pytest.raises(ValueError, match="at least 12"):
        model(_image(8, 64, 3), _mask(8, 64))
    with pytest.raises(ValueError, match="30x32"):
        model(_image(32, 32, 3), _mask(32, 30))
