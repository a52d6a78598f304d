"""How `python -m helpers bench` splits its speed pass where the models do not fit in memory together."""
from helpers.study.runs import get_run
from helpers.tools.bench import format_table, resident_bytes, speed_groups

GIB = 2**30


def _memory(parameters_gib: float, optimizer_gib: float = 0.0, transient_gib: float = 1.0) -> dict:
    resident = (parameters_gib + optimizer_gib) * GIB
    return {"parameter_bytes": int(parameters_gib * GIB), "optimizer_state_bytes": int(optimizer_gib * GIB),
            "peak_memory_bytes": int(resident + transient_gib * GIB)}


def _study_memory(parameters_gib: float) -> dict:
    runs = ["full_ft", "prompt_scratch_10", "prompt_opendelta_10", "prompt_opendelta_1", "adapter_scratch_8",
            "adapter_adapterhub_8", "adapter_adapterhub_1", "lora_scratch_8", "lora_peft_8", "lora_peft_1"]
    memory = {run: _memory(parameters_gib) for run in runs}
    memory["full_ft"] = _memory(parameters_gib, optimizer_gib=2 * parameters_gib, transient_gib=2.0)
    return memory


def test_runs_that_fit_together_are_timed_in_one_group():
    memory = _study_memory(0.25)   # t5-small-sized: 10 runs hold about 3 GiB
    assert speed_groups(memory, 20 * GIB) == [list(memory)]


def test_runs_that_do_not_fit_are_split_with_full_ft_in_every_group_and_twins_together():
    memory = _study_memory(1.0)   # t5-base-sized: full_ft holds 3 GiB, every other run 1 GiB
    budget = 8 * GIB              # room after full_ft (3) and the largest transient (2): 3 runs
    groups = speed_groups(memory, budget)
    assert len(groups) == 3
    assert all(group[0] == "full_ft" for group in groups)
    assert sorted(r for group in groups for r in group[1:]) == sorted(r for r in memory if r != "full_ft")
    transient = max(m["peak_memory_bytes"] - resident_bytes(m) for m in memory.values())
    for group in groups:
        assert len({get_run(run).method for run in group[1:]}) == 1   # each method's three runs fill a group here
        assert sum(resident_bytes(memory[r]) for r in group) + transient <= budget


def test_a_method_larger_than_the_room_still_gets_a_group():
    memory = _study_memory(1.0)
    groups = speed_groups(memory, 6 * GIB)   # room for 1 run; each method still goes whole
    assert [len(group) for group in groups] == [4, 4, 4]


def test_table_compares_each_run_with_its_own_groups_full_ft():
    def row(step, vs_full):
        return {"median_step_seconds": step, "train_samples_per_second": 8 / step, "train_vs_full": vs_full,
                "eval_samples_per_second": 10.0, "peak_memory_bytes": GIB, "peak_rss_bytes": 2 * GIB,
                "tensor_memory_bytes": GIB, "optimizer_state_bytes": 1024, "trainable_params": 1, "checkpoint_bytes": 1024,
                "batch": 8, "length": 256}

    pad = {"length_grouped": 0.02, "random_batches": 0.5, "pad_to_512": 0.5, "tokens_per_review": 241}
    figures = {"device": "cpu", "torch_threads": 2, "model": "t5-base",
               "methods": {"full_ft": row(20.0, 1.0), "lora_scratch_8": row(10.0, 1.6)},
               "speed_groups": [["full_ft"], ["full_ft", "lora_scratch_8"]], "full_ft_step_seconds_by_group": [20.0, 16.0],
               "pad_fractions": {"imdb_real": pad},
               "projection": {"model": "t5-base", "study_flops": 3e17, "full_ft_run_flops": 4e16, "peft_run_flops": 3e16,
                              "assumed_mean_tokens": 300, "h100_minutes": [23.0, 59.0]}}
    table = format_table(figures)
    lora = next(line for line in table.splitlines() if line.startswith("lora_scratch_8 "))
    assert "1.60x" in lora   # its group's full_ft took 16 s: 2.00x against the first group's would mislead
    assert "speed timed in 2 groups" in table and "20.00, 16.00 s" in table
