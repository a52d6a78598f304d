from helpers.tools.params import parameter_rows

# The specification's table for the t5-small architecture (exact).
EXPECTED_TOTALS = {
    "full_ft": 60_506_624, "prompt_scratch_10": 60_511_744, "prompt_opendelta_10": 60_511_744,
    "prompt_opendelta_1": 60_507_136, "adapter_scratch_8": 60_611_168, "adapter_adapterhub_8": 60_611_168,
    "adapter_adapterhub_1": 60_525_068, "lora_scratch_8": 60_801_536, "lora_peft_8": 60_801_536,
    "lora_peft_1": 60_543_488,
}
# Notebook 06 on t5-small (d_model 512 = heads x d_kv, d_ff 2048, 6 + 6 blocks, 18 attention modules),
# worked out by hand:
EXPECTED_ADDED_BEYOND = {
    "prefix_scratch_10": 10 * 6 * 2 * 512, "prefix_peft_10": 10 * 6 * 2 * 512,      # 61,440: k and v, decoder self-attn
    "ia3_scratch": 18 * 2 * 512 + 12 * 2048, "ia3_peft": 18 * 2 * 512 + 12 * 2048,  # 43,008: k, v; wo's input
    "bitfit_scratch": 18 * 4 * 512 + 12 * (2048 + 512),                              # 67,584: q, k, v, o; wi, wo
    "bitfit_opendelta": 18 * 4 * 512 + 12 * (2048 + 512),
    "partial_ft_2": 0,
}
# The last 2 encoder blocks (4 x 512^2 attention + 2 x 512 x 2048 FF + 2 x 512 norms) and the last 2
# decoder blocks (8 x 512^2 + 2 x 512 x 2048 + 3 x 512): 14,685,184.
PARTIAL_TRAINABLE = 2 * (4 * 512**2 + 2 * 512 * 2048 + 2 * 512) + 2 * (8 * 512**2 + 2 * 512 * 2048 + 3 * 512)


def test_seventeen_runs_match_the_specification_and_the_formulas():
    rows = {r["run_id"]: r for r in parameter_rows()}
    assert len(rows) == 17
    base = EXPECTED_TOTALS["full_ft"]
    assert {k: rows[k]["total_params"] for k in EXPECTED_TOTALS} == EXPECTED_TOTALS
    assert {k: rows[k]["added_params"] for k in EXPECTED_ADDED_BEYOND} == EXPECTED_ADDED_BEYOND
    for row in rows.values():
        assert row["matches"] and row["added_params"] == row["formula_added"] == row["total_params"] - base
        if row["run_id"] == "full_ft":
            assert row["trainable_params"] == row["total_params"]
        elif row["run_id"] == "partial_ft_2":
            assert row["trainable_params"] == row["formula_trainable"] == PARTIAL_TRAINABLE
        else:
            assert row["trainable_params"] == row["added_params"]


def test_other_checkpoints_counted_on_the_meta_device_match_their_formulas():
    """t5-base's numbers as the issue states them; T5 v1.1's gated FF, untied head and
    heads x d_kv != d_model (384 vs 512) counted exactly; every known shape, t5-11b included."""
    from helpers.models.shapes import KNOWN_T5
    from helpers.tools.params import backbone_row

    base = {r["run_id"]: r for r in parameter_rows("t5-base")}
    assert base["lora_peft_8"]["added_params"] == base["lora_scratch_8"]["added_params"] == 884_736
    assert base["adapter_scratch_8"]["added_params"] == base["adapter_adapterhub_8"]["added_params"] == 313_536
    assert base["prompt_scratch_10"]["added_params"] == base["prompt_opendelta_10"]["added_params"] == 7_680
    v1_1 = parameter_rows("google/t5-v1_1-small")
    assert all(r["matches"] for r in base.values()) and all(r["matches"] for r in v1_1)
    assert [r["run_id"] for r in v1_1 if "unsupported" in r] == ["prefix_peft_10"]   # PEFT's d_model-wide prefix
    v1_1 = [r for r in v1_1 if "unsupported" not in r]
    assert {r["run_id"]: r["added_params"] for r in v1_1}["lora_scratch_8"] == 48 * 8 * (512 + 6 * 64)
    assert all(r["trainable_params"] == r["added_params"] for r in v1_1 if r["run_id"] not in ("full_ft", "partial_ft_2"))
    rows = {name: backbone_row(name) for name in KNOWN_T5}
    assert all(row["matches"] for row in rows.values()), [n for n, r in rows.items() if not r["matches"]]
    # The published sizes of three of them (model cards): 60.5 M, 11.3 B, and FLAN-T5-small's 77.0 M.
    assert rows["t5-small"]["total_params"] == 60_506_624
    assert rows["t5-11b"]["total_params"] == 11_307_321_344
    assert rows["google/flan-t5-small"]["total_params"] == 76_961_152
