from helpers.tools.params import parameter_rows

# The specification's table for the t5-small architecture (exact).
EXPECTED_TOTALS = {
    "full_ft": 60_506_624, "prompt_scratch_10": 60_511_744, "prompt_opendelta_10": 60_511_744,
    "prompt_opendelta_1": 60_507_136, "adapter_scratch_8": 60_611_168, "adapter_adapterhub_8": 60_611_168,
    "adapter_adapterhub_1": 60_525_068, "lora_scratch_8": 60_801_536, "lora_peft_8": 60_801_536,
    "lora_peft_1": 60_543_488,
}


def test_ten_runs_match_the_specification_and_the_formulas():
    rows = {r["run_id"]: r for r in parameter_rows()}
    assert {k: r["total_params"] for k, r in rows.items()} == EXPECTED_TOTALS
    for row in rows.values():
        assert row["added_params"] == row["formula_added"] == row["total_params"] - EXPECTED_TOTALS["full_ft"]
        expected_trainable = row["total_params"] if row["run_id"] == "full_ft" else row["added_params"]
        assert row["trainable_params"] == expected_trainable
