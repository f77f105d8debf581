"""Encoder files: the architecture they record (padding included), old files without it, and safe loading."""

import os

import pytest
import torch

from cvrl_pl.models import build_encoder
from cvrl_pl.models.encoder_file import load_encoder_weights, read_encoder

SMALL = {"name": "r3d18", "width": 1, "base_channels": 8}
PLAIN = {"input_mean": [0.0, 0.0, 0.0], "input_std": [1.0, 1.0, 1.0]}  # CVRL's input, the default


def test_the_padding_must_match_the_config(tmp_path):
    encoder = build_encoder(**SMALL, padding="tf_same")
    torch.save({"arch": {**SMALL, "padding": "tf_same"}, "state_dict": encoder.state_dict()}, tmp_path / "e.pt")
    target = build_encoder(**SMALL)
    with pytest.raises(ValueError, match="set model.padding"):
        load_encoder_weights(target, tmp_path / "e.pt", {**SMALL, "padding": "symmetric", **PLAIN})
    same = build_encoder(**SMALL, padding="tf_same")
    load_encoder_weights(same, tmp_path / "e.pt", {**SMALL, "padding": "tf_same", **PLAIN})
    assert all(
        torch.equal(a, b) for a, b in zip(same.state_dict().values(), encoder.state_dict().values(), strict=True)
    )


def test_files_from_before_model_padding_and_input_norm_are_symmetric_and_plain(tmp_path):
    torch.save({"arch": dict(SMALL), "state_dict": build_encoder(**SMALL).state_dict()}, tmp_path / "old.pt")
    _, arch, _ = read_encoder(tmp_path / "old.pt")
    assert arch == {**SMALL, "padding": "symmetric", **PLAIN}
    load_encoder_weights(build_encoder(**SMALL), tmp_path / "old.pt", {**SMALL, "padding": "symmetric", **PLAIN})


def test_an_encoder_fed_another_normalisation_than_its_own_is_an_error_naming_the_keys(tmp_path):
    imagenet = {"input_mean": [0.485, 0.456, 0.406], "input_std": [0.229, 0.224, 0.225]}
    arch = {**SMALL, "padding": "symmetric", **imagenet}
    torch.save({"arch": arch, "state_dict": build_encoder(**arch).state_dict()}, tmp_path / "e.pt")
    with pytest.raises(ValueError, match=r"set model.input_mean=\[0.485,0.456,0.406\], model.input_std=\[0.229,"):
        load_encoder_weights(build_encoder(**SMALL), tmp_path / "e.pt", {**SMALL, "padding": "symmetric", **PLAIN})
    load_encoder_weights(build_encoder(**arch), tmp_path / "e.pt", arch)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("true",))


def test_a_file_that_would_run_code_is_refused(tmp_path):
    torch.save({"arch": dict(SMALL), "state_dict": {}, "payload": _RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"evil.pt: refused: loading it would unpickle code.*GLOBAL posix.system"):
        read_encoder(tmp_path / "evil.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "evil.pt").read_bytes()[:40])
    with pytest.raises(ValueError, match="cut.pt: not a readable torch file"):
        read_encoder(tmp_path / "cut.pt")
