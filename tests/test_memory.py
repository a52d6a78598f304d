"""The CPU peak-memory counter behind `python -m helpers bench` (helpers/memory.py)."""
import torch

from helpers.tools.memory import cpu_peak_tensor_bytes, live_tensor_bytes


def test_peak_counts_tensors_freed_before_the_call_returns():
    kept = torch.ones(1_000_000)   # 4 MB alive before and after: part of the peak

    def work():
        first = torch.ones(2_000_000)    # 8 MB
        second = torch.ones(3_000_000)   # 12 MB while the 8 MB still lives: peak 20 MB above the start
        del first, second
        torch.ones(1_000_000)            # 4 MB, freed at once: below the peak

    before = live_tensor_bytes()
    assert before >= kept.nbytes
    assert cpu_peak_tensor_bytes(work) == before + 20_000_000
    assert live_tensor_bytes() == before


def test_peak_of_a_training_step_holds_the_saved_activations():
    torch.manual_seed(0)
    layer = torch.nn.Linear(500, 500)
    inputs = torch.randn(2_000, 500)

    def step():
        layer(inputs).relu().sum().backward()   # relu keeps its 4 MB output for backward

    before = live_tensor_bytes()
    peak = cpu_peak_tensor_bytes(step)
    # The relu output and its incoming gradient are alive together during backward.
    assert peak - before >= 2 * 2_000 * 500 * 4
    assert layer.weight.grad is not None


def test_bench_memory_worker_peak_holds_what_a_lora_step_must_keep():
    from helpers.tools.bench import measure_memory

    figures = measure_memory("lora_scratch_8", shape=dict(batch=2, length=64, eval_batch=2, rounds=1))
    assert figures["trainable_params"] == 294_912   # 36 linears x 8 x (512 + 512)
    weights = (60_506_624 + figures["trainable_params"]) * 4
    # Weights, Adam's state and the saved activations are all alive when backward starts.
    assert figures["peak_memory_bytes"] >= weights + figures["optimizer_state_bytes"] + figures["saved_activation_bytes"]
    assert figures["optimizer_state_bytes"] == 2 * figures["trainable_params"] * 4 + 36 * 2 * 4   # exp_avg, exp_avg_sq, step
    assert figures["peak_rss_bytes"] > figures["peak_memory_bytes"]   # the process also holds its libraries


def test_bench_speed_times_every_run_in_turns():
    from helpers.tools.bench import measure_speed

    shape = dict(batch=2, length=32, eval_batch=2, rounds=2)
    figures = measure_speed(["prompt_scratch_10", "lora_scratch_8"], shape)
    assert list(figures) == ["prompt_scratch_10", "lora_scratch_8"]
    for speed in figures.values():
        assert len(speed["step_seconds"]) == shape["rounds"]   # the warm-up turn is not timed
        assert speed["train_samples_per_second"] == shape["batch"] / speed["median_step_seconds"]
        assert speed["eval_samples_per_second"] > 0
