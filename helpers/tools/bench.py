"""`python -m helpers bench [--json] [--model NAME] [--only RUN ...]`: speed, memory and checkpoint
size of every run on the t5-small architecture or any known T5 shape or saved folder's config
(random weights: speed does not depend on them), on the GPU if there is
one, else the CPU. Memory is measured for each run in its own process, so each peak is its own;
speed for all runs in one process, taking turns step by step, so that drift in the machine's
speed over the minutes of a benchmark touches every run alike. Where the models would not fit in
memory together (t5-base's seventeen on a 24 GiB machine), the runs are timed in groups that do,
each group with full fine-tuning beside it, and each run's "x full" is against its own group's.

Three memory figures, all for training steps (before evaluation runs):
- `peak_memory_bytes`, measured: the most bytes held by tensors at any moment, the same quantity on
  both devices (GPU: torch.cuda.max_memory_allocated; CPU: the allocations torch's profiler records
  during one step, see helpers/memory.py);
- `peak_rss_bytes`, measured: the process's peak resident memory, which also holds the Python
  libraries and what the C allocator keeps after tensors are freed (on a CPU, glibc);
- `tensor_memory_bytes`, counted: weights + gradients + optimizer state + activations saved for
  backward, with no transient buffers.

Figures, not assertions: the thresholds a method should meet are printed beside them."""
from __future__ import annotations

import json
import os
from contextlib import nullcontext
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers.study.runs import ALL_RUNS, get_run
from helpers.tools.projection import IMDB_MEAN_TOKENS, forward_flops_per_review

# CPU: a batch and length that finish in seconds per step; GPU: the study's own batch.
# `rounds`: timed steps per run. Runs take turns, one step each, so that a machine getting
# slower or faster over the minutes of a benchmark touches every run alike.
CPU_SHAPE = dict(batch=8, length=256, eval_batch=16, rounds=5)
GPU_SHAPE = dict(batch=32, length=512, eval_batch=128, rounds=10)


def _device_shape() -> dict:
    import torch

    return GPU_SHAPE if torch.cuda.is_available() else CPU_SHAPE


class Workload:
    """One run's model on the t5-small architecture with a fixed random batch: a training step and
    an evaluation forward pass, as the training loop does them (AdamW, bf16 autocast where the
    `precision` setting gives it: by default on GPUs that compute bf16 natively)."""

    def __init__(self, run_id: str, shape: dict, overrides: dict | None = None):
        import torch

        from helpers.methods.registry import build_model
        from helpers.study.settings import settings_for
        from helpers.models.shapes import architecture
        from helpers.data.synthetic import build_tokenizer
        from helpers.training.loop import make_optimizer
        from helpers.training.runtime import resolve_precision

        self.cuda = torch.cuda.is_available()
        device = torch.device("cuda" if self.cuda else "cpu")
        self.run = get_run(run_id)
        self.settings = settings_for(run_id, "full", overrides)
        torch.manual_seed(0)
        # settings.model: t5-small unless a model=NAME override names another shape (bench --model)
        self.model = build_model(self.run, architecture(self.settings.model), build_tokenizer(), self.settings,
                                 seed=0).to(device)
        self.optimizer = make_optimizer(self.model, self.settings)
        generator = torch.Generator().manual_seed(0)
        self.input_ids = torch.randint(3, 32000, (shape["batch"], shape["length"]), generator=generator).to(device)
        self.mask = torch.ones_like(self.input_ids)
        self.labels = torch.tensor([[2841, 1]] * shape["batch"], device=device)   # "positive" </s> in t5-small's vocabulary
        self.eval_ids = torch.randint(3, 32000, (shape["eval_batch"], shape["length"]), generator=generator).to(device)
        self.eval_mask = torch.ones_like(self.eval_ids)
        self.start = torch.zeros((shape["eval_batch"], 1), dtype=torch.long, device=device)
        # The training loop's choice (helpers.training.runtime): bf16 only where the GPU computes it natively.
        self.precision = resolve_precision(self.settings.precision)
        kind = device.type
        self.autocast = (lambda: torch.autocast(kind, dtype=torch.bfloat16)) if self.precision == "bf16" else nullcontext

    def step(self) -> None:
        self.model.train()
        with self.autocast():
            loss = self.model(input_ids=self.input_ids, attention_mask=self.mask, labels=self.labels,
                              use_cache=False).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def evaluate(self) -> None:
        import torch

        self.model.eval()
        with torch.no_grad(), self.autocast():
            self.model(input_ids=self.eval_ids, attention_mask=self.eval_mask, decoder_input_ids=self.start,
                       use_cache=False)


def measure_memory(run_id: str, overrides: dict | None = None, shape: dict | None = None) -> dict:
    """One run's memory, checkpoint and parameter figures. Call it in a fresh process: the peak
    resident memory of a process is all it ever held."""
    import torch

    from helpers.methods.registry import implementation
    from helpers.tools.memory import cpu_peak_tensor_bytes, peak_rss_bytes
    from helpers.training.checkpoints import trainable_state
    from helpers.methods.counting import count_parameters

    work = Workload(run_id, shape or _device_shape(), overrides)
    activation_bytes = _saved_activation_bytes(work.step, work.model)   # the first step also creates Adam's state
    if work.cuda:
        torch.cuda.reset_peak_memory_stats()
    work.step()
    rss_bytes = peak_rss_bytes()   # read before the profiler, whose records would add to it
    peak_bytes = torch.cuda.max_memory_allocated() if work.cuda else cpu_peak_tensor_bytes(work.step)
    model = work.model
    optimizer_bytes = sum(t.numel() * t.element_size() for s in work.optimizer.state.values() for t in s.values()
                          if torch.is_tensor(t))
    counts = count_parameters(model)
    with tempfile.TemporaryDirectory() as folder:
        impl = implementation(work.run)
        if impl.save is None:   # full and partial fine-tuning: what must be kept is the trained tensors
            path = Path(folder) / "model.pt"
            torch.save(trainable_state(model), path)
            checkpoint = path.stat().st_size
        else:
            target = Path(folder) / (impl.weights_name.format(run_id=run_id))
            checkpoint = impl.save(model.cpu(), target, work.run, work.settings)
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    gradient_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return {"peak_memory_bytes": peak_bytes, "peak_rss_bytes": rss_bytes, "optimizer_state_bytes": optimizer_bytes,
            "parameter_bytes": parameter_bytes,
            # Deterministic accounting of what a step must hold: weights, gradients, optimizer
            # state and the activations autograd saves for backward (no allocator caching).
            "tensor_memory_bytes": parameter_bytes + gradient_bytes + optimizer_bytes + activation_bytes,
            "saved_activation_bytes": activation_bytes,
            "trainable_params": counts.trainable, "checkpoint_bytes": checkpoint}


def measure_speed(run_ids: list[str], shape: dict | None = None, overrides: dict | None = None) -> dict:
    """Median training-step time and evaluation throughput of each run, all in this process,
    the runs taking turns step by step (the first turn is a warm-up and is not timed)."""
    shape = shape or _device_shape()
    works = {run_id: Workload(run_id, shape, overrides) for run_id in run_ids}
    step_times = {run_id: [] for run_id in run_ids}
    eval_times = {run_id: [] for run_id in run_ids}
    for turn in range(shape["rounds"] + 1):
        order = run_ids[turn % len(run_ids):] + run_ids[:turn % len(run_ids)]   # no run always goes first
        for run_id in order:
            work = works[run_id]
            step, evaluate = _timed(work.step, work.cuda), _timed(work.evaluate, work.cuda)
            if turn > 0:
                step_times[run_id].append(step)
                eval_times[run_id].append(evaluate)
    figures = {}
    for run_id in run_ids:
        median = statistics.median(step_times[run_id])
        figures[run_id] = {"median_step_seconds": median, "train_samples_per_second": shape["batch"] / median,
                           "eval_samples_per_second": shape["eval_batch"] / statistics.median(eval_times[run_id]),
                           "step_seconds": step_times[run_id], "batch": shape["batch"], "length": shape["length"]}
    return figures


def _saved_activation_bytes(step, model) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass, counted during one
    real training step (no extra forward pass, so the measured peak is not disturbed)."""
    import torch

    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(size for pointer, size in storages.items() if pointer not in parameters)


def _timed(function, cuda: bool) -> float:
    import torch

    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    function()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def imdb_train_lengths(max_length: int = 512) -> tuple[str, list[int]]:
    """("imdb_real", lengths) of the 22,500 training reviews a run trains on, in the T5-style
    tokenizer trained on them, where ../shared/data/imdb exists; else ("imdb_simulated", lengths
    drawn to look like IMDB in t5-small tokens: log-normal, median ~230, cut at 512)."""
    import random

    from helpers.data.real_imdb import imdb_tokenizer_dir, shared_imdb_dir

    folder = shared_imdb_dir()
    if folder is None:
        rng = random.Random(0)
        return "imdb_simulated", [min(max_length, max(10, int(rng.lognormvariate(5.45, 0.75)))) for _ in range(22_500)]
    from transformers import AutoTokenizer

    from helpers.data.reviews import load_local, stratified_split
    from helpers.data.tokens import encode_split

    train = load_local(folder)["train"]
    train_idx, _ = stratified_split(train.label, 2500)
    encoded = encode_split(AutoTokenizer.from_pretrained(imdb_tokenizer_dir()), train.subset(train_idx), "{text}", max_length)
    return "imdb_real", encoded.lengths()


def pad_fractions() -> dict:
    """Share of padding in one epoch of training batches: length-grouped (ours) against batches
    padded to the longest review of a random batch, on the tiny corpus and on IMDB-like lengths."""
    import random

    from helpers.data.batching import pad_fraction, training_batches
    from helpers.data.reviews import load_local
    from helpers.data.synthetic import build_tokenizer
    from helpers.data.synthetic import synthetic_data_dir

    tokenizer = build_tokenizer()
    texts = load_local(synthetic_data_dir())["train"].text
    tiny_lengths = [len(x) for x in tokenizer(texts)["input_ids"]]
    imdb_name, imdb_lengths = imdb_train_lengths()
    result = {}
    for name, lengths in (("tiny_corpus", tiny_lengths), (imdb_name, imdb_lengths)):
        order = list(range(len(lengths)))
        random.Random(1).shuffle(order)
        naive = [order[i:i + 32] for i in range(0, len(order), 32)]
        result[name] = {"length_grouped": pad_fraction(lengths, training_batches(lengths, 32, seed=0, epoch=1)),
                        "random_batches": pad_fraction(lengths, naive),
                        "pad_to_512": 1 - sum(lengths) / (512 * len(lengths)),
                        "tokens_per_review": sum(lengths) / len(lengths)}
    return result


# Assumptions of the projection (stated, not measured here): IMDB reviews average about 300
# t5-small tokens after truncation at 512; a small model like t5-small reaches 10-25% of an
# H100's dense bf16 peak (989 TFLOP/s); backward costs 2x forward with weight gradients, 1x without.
H100_BF16_PEAK = 989e12
UTILISATION = (0.10, 0.25)


def study_flops(train=22_500, val=2_500, test=25_000, epochs=10, tokens=IMDB_MEAN_TOKENS, model="t5-small") -> dict:
    """FLOPs of the full study (ten runs) on a T5 shape (t5-small by default), counted from its
    configuration, and the PROJECTED minutes of compute on each card of helpers.tools.projection."""
    from helpers.tools.projection import CARDS, minutes

    forward = forward_flops_per_review(model, tokens)   # one review
    evaluation = (val * (epochs + 1) + 2 * test) * forward    # validation every epoch, test by scoring and generate
    full = train * epochs * 3 * forward + evaluation
    peft = train * epochs * 2 * forward + evaluation
    total = full + 9 * peft
    return {"model": model, "forward_flops_per_review": forward, "full_ft_run_flops": full, "peft_run_flops": peft,
            "study_flops": total, "assumed_mean_tokens": tokens,
            "h100_minutes": [total / (H100_BF16_PEAK * u) / 60 for u in reversed(UTILISATION)],
            "projected_minutes": {card.name: list(minutes(total, card)) for card in CARDS}}


def _worker(*args: str) -> dict:
    """Run `python -m helpers.tools.bench ARGS` and return the JSON line it prints."""
    done = subprocess.run([sys.executable, "-m", "helpers.tools.bench", *args], capture_output=True, text=True,
                          env=dict(os.environ, TQDM_DISABLE="1"))
    if done.returncode != 0:
        raise RuntimeError(f"bench worker {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def resident_bytes(memory: dict) -> int:
    """What one run's workload keeps between its steps in the speed pass: weights and Adam's state."""
    return memory["parameter_bytes"] + memory["optimizer_state_bytes"]


def speed_groups(memory: dict[str, dict], budget_bytes: int) -> list[list[str]]:
    """The runs of `memory` (full_ft first) in groups whose workloads fit in `budget_bytes` together,
    with room for the largest step's transient tensors; full_ft, the yardstick, leads every group.
    Runs of one method stay together, so that scratch and library twins are timed side by side; a
    method too large for any group gets one of its own."""
    transient = max(m["peak_memory_bytes"] - resident_bytes(m) for m in memory.values())
    room = budget_bytes - transient - resident_bytes(memory["full_ft"])
    families: dict[str, list[str]] = {}
    for run_id in memory:
        if run_id != "full_ft":
            families.setdefault(get_run(run_id).method, []).append(run_id)
    groups: list[list[str]] = [[]]
    used = 0
    for family in families.values():
        need = sum(resident_bytes(memory[r]) for r in family)
        if groups[-1] and used + need > room:
            groups.append([])
            used = 0
        groups[-1].extend(family)
        used += need
    return [["full_ft"] + group for group in groups]


def memory_budget_bytes() -> int:
    """Memory the speed pass may fill: 80% of what the device has free now (GPU: free device memory;
    CPU: the kernel's MemAvailable, or half the physical memory where /proc/meminfo is missing)."""
    import torch

    if torch.cuda.is_available():
        return int(0.8 * torch.cuda.mem_get_info()[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(0.8 * int(line.split()[1]) * 1024)
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def _memory_pass(run_ids: list[str], model: str, precision: str = "auto") -> dict[str, dict]:
    """Each run's memory figures, measured in a process of its own."""
    methods = {}
    for number, run_id in enumerate(run_ids, 1):
        start = time.perf_counter()
        m = methods[run_id] = _worker("memory", run_id, f"model={model}", f"precision={precision}")
        print(f"memory {number}/{len(run_ids)}, {run_id} on {model} in its own process: peak "
              f"{m['peak_memory_bytes'] / 2**20:,.0f} MiB, RSS {m['peak_rss_bytes'] / 2**20:,.0f} MiB "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    return methods


def _speed_pass(methods: dict[str, dict], model: str, precision: str = "auto") -> tuple[list[list[str]], list[float]]:
    """Add each run's speed to `methods`, timed in groups that fit in memory; return the groups
    and full_ft's median step in each."""
    groups = speed_groups(methods, memory_budget_bytes())
    yardstick = []
    for number, group in enumerate(groups, 1):
        start = time.perf_counter()
        speeds = _worker("speed", *group, f"model={model}", f"precision={precision}")
        full = speeds["full_ft"]["train_samples_per_second"]
        yardstick.append(speeds["full_ft"]["median_step_seconds"])
        for run_id, speed in speeds.items():
            if run_id == "full_ft" and number > 1:
                continue   # full_ft's own row is its first group's timing
            methods[run_id].update(speed, train_vs_full=speed["train_samples_per_second"] / full, speed_group=number)
        print(f"speed {number}/{len(groups)}: {len(group)} runs taking turns in one process "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    return groups, yardstick


def collect(model: str = "t5-small", only: list[str] | None = None, precision: str = "auto") -> dict:
    import torch

    from helpers.study.results import device_description
    from helpers.training.runtime import resolve_precision

    # Full fine-tuning always: every ratio is against it.
    run_ids = ["full_ft"] + [get_run(r).run_id for r in only if r != "full_ft"] if only else [r.run_id for r in ALL_RUNS]
    methods = _memory_pass(run_ids, model, precision)
    groups, yardstick = _speed_pass(methods, model, precision)
    pads = pad_fractions()
    imdb = next(name for name in pads if name.startswith("imdb_"))
    return {"device": device_description(), "torch_threads": torch.get_num_threads(), "model": model,
            "precision": resolve_precision(precision), "methods": methods,
            "speed_groups": groups, "full_ft_step_seconds_by_group": yardstick,
            # IMDB's: the real reviews' lengths where ../shared/data/imdb exists, else simulated (the key says which)
            "train_pad_fraction": pads[imdb]["length_grouped"], "train_lengths": imdb, "pad_fractions": pads,
            "projection": study_flops(model=model)}


def _pairs():
    return {"prompt_scratch_10": "prompt_opendelta_10", "adapter_scratch_8": "adapter_adapterhub_8",
            "lora_scratch_8": "lora_peft_8", "prefix_scratch_10": "prefix_peft_10", "ia3_scratch": "ia3_peft",
            "bitfit_scratch": "bitfit_opendelta"}


def format_table(figures: dict) -> str:
    methods = figures["methods"]
    full = methods["full_ft"]
    head = (f"{'run':<22} {'step s':>8} {'train/s':>8} {'x full':>7} {'eval/s':>8} {'peak MiB':>9} {'x full':>7} "
            f"{'RSS MiB':>8} {'x full':>7} {'tensor MiB':>11} {'optim MiB':>10} {'trainable':>11} {'ckpt KiB':>10}")
    lines = [f"model: {figures.get('model', 't5-small')} (random weights); device: {figures['device']} "
             f"({figures['torch_threads']} threads); {figures.get('precision', 'fp32')}; "
             f"batch {full['batch']} x {full['length']} tokens",
             head, "-" * len(head)]
    for run_id, m in methods.items():
        lines.append(f"{run_id:<22} {m['median_step_seconds']:>8.3f} {m['train_samples_per_second']:>8.2f} "
                     f"{m['train_vs_full']:>6.2f}x "
                     f"{m['eval_samples_per_second']:>8.1f} {m['peak_memory_bytes'] / 2**20:>9,.0f} "
                     f"{m['peak_memory_bytes'] / full['peak_memory_bytes']:>6.2f}x "
                     f"{m['peak_rss_bytes'] / 2**20:>8,.0f} {m['peak_rss_bytes'] / full['peak_rss_bytes']:>6.2f}x "
                     f"{m['tensor_memory_bytes'] / 2**20:>11,.0f} {m['optimizer_state_bytes'] / 2**20:>10,.2f} {m['trainable_params']:>11,} "
                     f"{m['checkpoint_bytes'] / 1024:>10,.1f}")
    lines.append("")
    groups = figures["speed_groups"]
    if len(groups) > 1:
        steps = ", ".join(f"{t:.2f}" for t in figures["full_ft_step_seconds_by_group"])
        lines.append(f"speed timed in {len(groups)} groups that each fit in memory, full_ft beside each (its step: "
                     f"{steps} s); 'x full' is against the full_ft of the run's own group")
    for scratch, library in _pairs().items():
        if scratch not in methods or library not in methods:
            continue
        ratio = methods[scratch]["train_samples_per_second"] / methods[library]["train_samples_per_second"]
        lines.append(f"{scratch} / {library}: {ratio:.2f}x samples/s (goal >= 0.9x)")
    for run_id in ("lora_scratch_8", "lora_peft_8"):
        if run_id not in methods:
            continue
        m = methods[run_id]
        lines.append(f"{run_id}: peak memory {m['peak_memory_bytes'] / full['peak_memory_bytes']:.2f}x full (goal <= 0.7x), "
                     f"process RSS {m['peak_rss_bytes'] / full['peak_rss_bytes']:.2f}x, tensor memory {m['tensor_memory_bytes'] / full['tensor_memory_bytes']:.2f}x full, optimizer state "
                     f"{100 * m['optimizer_state_bytes'] / full['optimizer_state_bytes']:.2f}% of full (goal <= 1%)")
    slowest = min(((m["train_vs_full"], r)
                   for r, m in methods.items() if r != "full_ft"), default=None)
    if slowest:
        lines.append(f"slowest parameter-efficient run: {slowest[1]} at {slowest[0]:.2f}x full fine-tuning (goal >= 1.2x)")
    for name, p in figures["pad_fractions"].items():
        lines.append(f"padding share, {name}: length-grouped {p['length_grouped']:.3f}, random batches "
                     f"{p['random_batches']:.3f}, padded to 512 {p['pad_to_512']:.3f}"
                     + (f"; {p['tokens_per_review']:.0f} tokens per review" if "tokens_per_review" in p else ""))
    p = figures["projection"]
    lines.append(f"PROJECTION (not a measurement) for {p['model']}: the full study is {p['study_flops'] / 1e15:.0f} PFLOP "
                 f"({p['full_ft_run_flops'] / 1e15:.1f} for full fine-tuning, {p['peft_run_flops'] / 1e15:.1f} per "
                 f"parameter-efficient run, reviews of ~{p['assumed_mean_tokens']} tokens): "
                 f"{p['h100_minutes'][0]:.0f}-{p['h100_minutes'][1]:.0f} min of H100 compute at 25-10% of bf16 peak"
                 + "".join(f"; {card} {low:.0f}-{high:.0f} min" for card, (low, high) in p.get("projected_minutes", {}).items()
                           if card != "H100")
                 + " (per notebook and card: python -m helpers bench --projection)")
    return "\n".join(lines)


def main(as_json: bool = False, model: str = "t5-small", only: list[str] | None = None, precision: str = "auto") -> int:
    from helpers.models.shapes import t5_config

    t5_config(model)   # an unknown name is refused here, in one line, before any worker starts
    figures = collect(model, only, precision)
    print(json.dumps(figures, indent=2) if as_json else format_table(figures))
    return 0


if __name__ == "__main__":
    # Workers, one JSON line each:  python -m helpers.tools.bench memory RUN_ID [KEY=VALUE ...]
    #                               python -m helpers.tools.bench speed RUN_ID [RUN_ID ...]
    from helpers.study.settings import parse_assignments

    kind, arguments = sys.argv[1], sys.argv[2:]
    assignments = parse_assignments([a for a in arguments if "=" in a])   # e.g. model=t5-base
    names = [a for a in arguments if "=" not in a]
    figures = (measure_memory(names[0], assignments) if kind == "memory" else measure_speed(names, overrides=assignments))
    print(json.dumps(figures))
