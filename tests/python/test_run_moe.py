"""flashmoe.run_moe, FlashDMoE's entry point: the configurations it takes, what it returns
(checked against the layer itself), n_processes as threads and as MPI processes, its errors."""
import shutil

import pytest
import torch

import flashmoe
from flashmoe import _C

SMALL = dict(hidden=16, ffn=24, experts=4, top_k=2, dtype="fp64", capacity_factor=1.0)

# FlashDMoE's own keys (examples/flashdmoe_config.json), sized down.
SEED_FORMAT = {
    "capacity_factor": 1, "drop_tokens": 1, "expert_top_k": 2, "global_batch": 8,
    "is_training": 1, "hidden_act": 0, "hidden_size": 16, "intermediate_size": 24,
    "mini_batch": 1, "moe_frequency": 1, "num_experts": 4, "num_layers": 1,
    "sequence_len": 24, "torch_dtype": 1, "vocab_size": 100,
}


def test_outputs_are_the_layer_on_the_returned_inputs(capsys):
    result = flashmoe.run_moe(SMALL, n_processes=2, backend="cpu", tokens=[40, 24], seed=3)
    printed = capsys.readouterr().out
    assert printed == result.summary
    assert printed.startswith("flashmoe run: backend cpu, 2 ranks, forward")
    assert "saved to" not in printed  # the temporary directory is gone
    assert result.meta["world_size"] == 2 and result.meta["tokens"] == [40, 24]
    wg = result.inputs["wg"]
    # Rank r's output is the layer on rank r's tokens with every expert (SPEC): rebuild it
    # from what run_moe returned, on the reference backend.
    w1 = torch.cat([rank["w1"] for rank in result.inputs["ranks"]])
    w2 = torch.cat([rank["w2"] for rank in result.inputs["ranks"]])
    for r, rank in enumerate(result.inputs["ranks"]):
        out, routing = flashmoe.moe(rank["x"], wg, w1, None, w2, None, top_k=2,
                                    activation="gelu", capacity_factor=1.0,
                                    return_routing=True, backend="reference")
        torch.testing.assert_close(result.out[r], out, rtol=1e-12, atol=1e-12)
        assert torch.equal(result.routing[r].topk_idx, routing.topk_idx)
        assert torch.equal(result.routing[r].kept, routing.kept)
        assert torch.equal(result.routing[r].tokens_per_expert_kept,
                           routing.tokens_per_expert_kept)
    assert result.grads is None and result.check_passed is None


def test_seed_format_dict_with_backward_and_check():
    result = flashmoe.run_moe(SEED_FORMAT, n_processes=2, check=True)
    assert result.check_passed is True
    # sequence_len × mini_batch tokens per rank; is_training turns the backward on.
    assert result.meta["tokens"] == [24, 24] and result.meta["backward"] is True
    assert result.meta["hidden"] == 16 and result.meta["activation"] == "relu"
    assert sorted(result.grads[1]) == ["dw1", "dw2", "dwg", "dx"]
    assert result.grads[0]["dx"].shape == (24, 16)
    assert "ignored keys" in result.notes  # the seed's keys flashmoe has no use for


def test_default_is_the_seed_example(tmp_path):
    # The seed's example (H = P = 2048, E = 64, 8192 tokens) sized down by overrides; what is
    # not overridden comes from it.
    result = flashmoe.run_moe(hidden=8, ffn=8, experts=4, tokens=16, save=tmp_path / "run")
    assert (result.meta["top_k"], result.meta["activation"], result.meta["capacity_factor"]) \
        == (2, "relu", 1.0)
    assert (tmp_path / "run" / "meta.json").is_file()
    assert f"saved to {tmp_path / 'run'}" in result.summary


def test_unknown_override_names_the_nearest_option():
    with pytest.raises(ValueError, match="did you mean '--hidden'"):
        flashmoe.run_moe(SMALL, hiden=8)


def test_a_refused_configuration_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="top_k"):
        flashmoe.run_moe(SMALL, top_k=9)


def test_mpi_without_a_launcher_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="n_processes=2, mpi=True.*mpirun or mpiexec"):
        flashmoe.run_moe(SMALL, n_processes=2, mpi=True)


@pytest.mark.skipif(not _C.mpi_built() or shutil.which("mpirun") is None,
                    reason="flashmoe built without MPI, or no mpirun")
def test_mpi_processes_give_the_in_process_bits():
    options = dict(n_processes=2, backend="cpu", backward=True, tokens=[24, 16], seed=5)
    threads = flashmoe.run_moe(SMALL, **options)
    processes = flashmoe.run_moe(SMALL, mpi=True, **options)
    assert processes.summary.startswith("flashmoe run: backend cpu (mpi, 2 processes), 2 ranks")
    for r in range(2):
        assert torch.equal(threads.out[r], processes.out[r])
        assert torch.equal(threads.routing[r].topk_idx, processes.routing[r].topk_idx)
        for name in ("dx", "dwg", "dw1", "dw2"):
            assert torch.equal(threads.grads[r][name], processes.grads[r][name]), name
