"""The runs of the study: the assignment's ten (Table 1 of the report, in its order and with its
labels), then the extensions of notebook 06, which the report keeps in a table of their own."""
from __future__ import annotations

from dataclasses import dataclass

from helpers import UserError


# The setting that holds each method's size (methods without a size have none).
SIZE_KEYS = {"prompt": "n_tokens", "prefix": "n_tokens", "adapter": "bottleneck", "lora": "rank",
             "partial": "trainable_blocks"}


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    notebook: str
    label: str            # printed by the report exactly as the assignment names it
    method: str           # "full", "prompt", "adapter", "lora"; extensions "prefix", "ia3", "bitfit", "partial"
    implementation: str   # "scratch", "opendelta", "adapterhub", "peft" (full and partial: "transformers")
    size: int = 0         # n_tokens, bottleneck, rank or trainable_blocks; 0 where the method has no size
    # Max validation accuracy (%) after 10 epochs in the original course study and in two
    # independent public submissions (A, B). References only: never mixed with our numbers.
    reference: tuple[float, float, float] = (0.0, 0.0, 0.0)
    defaults: tuple[tuple[str, object], ...] = ()   # settings of this run's own (before the user's overrides)
    weights_file: str | None = None                 # instead of the method's file name (lora.pt, ...)

    @property
    def size_key(self) -> str | None:
        return SIZE_KEYS.get(self.method)


RUNS: tuple[RunSpec, ...] = (
    RunSpec("full_ft", "01_full_finetuning", "Full Fine-Tuning (#1)", "full", "transformers", 0, (90.0, 90.1, 90.0)),
    RunSpec("prompt_scratch_10", "02_prompt_tuning", "Soft Prompt Tuning_10 (#2)", "prompt", "scratch", 10, (86.8, 87.1, 87.1)),
    RunSpec("prompt_opendelta_10", "02_prompt_tuning", "Soft Prompt Tuning_10_OpenDelta (#2)", "prompt", "opendelta", 10, (87.1, 86.5, 86.6)),
    RunSpec("prompt_opendelta_1", "02_prompt_tuning", "Soft Prompt Tuning_1_OpenDelta (#2)", "prompt", "opendelta", 1, (84.9, 85.0, 84.8)),
    RunSpec("adapter_scratch_8", "03_adapter", "Adapter_8 (#3)", "adapter", "scratch", 8, (90.6, 90.5, 90.6)),
    RunSpec("adapter_adapterhub_8", "04_adapter_adapterhub", "Adapter_8_AdapterHub (#4)", "adapter", "adapterhub", 8, (90.3, 90.1, 90.4)),
    RunSpec("adapter_adapterhub_1", "04_adapter_adapterhub", "Adapter_1_AdapterHub (#4)", "adapter", "adapterhub", 1, (89.1, 89.1, 89.3)),
    RunSpec("lora_scratch_8", "05_lora", "LoRA_8 (#5)", "lora", "scratch", 8, (88.9, 89.1, 89.5)),
    RunSpec("lora_peft_8", "05_lora", "LoRA_8_PEFT (#5)", "lora", "peft", 8, (89.0, 88.7, 88.9)),
    RunSpec("lora_peft_1", "05_lora", "LoRA_1_PEFT (#5)", "lora", "peft", 1, (88.8, 88.5, 88.8)),
)
# Beyond the assignment (notebook 06): other common methods, each from scratch beside its library
# twin where one exists. No reference numbers: the course study did not run them.
EXTENSIONS: tuple[RunSpec, ...] = (
    RunSpec("prefix_scratch_10", "06_beyond", "Prefix Tuning_10", "prefix", "scratch", 10),
    RunSpec("prefix_peft_10", "06_beyond", "Prefix Tuning_10_PEFT", "prefix", "peft", 10),
    RunSpec("ia3_scratch", "06_beyond", "(IA)^3", "ia3", "scratch"),
    RunSpec("ia3_peft", "06_beyond", "(IA)^3_PEFT", "ia3", "peft"),
    RunSpec("bitfit_scratch", "06_beyond", "BitFit", "bitfit", "scratch"),
    RunSpec("bitfit_opendelta", "06_beyond", "BitFit_OpenDelta", "bitfit", "opendelta"),
    RunSpec("partial_ft_2", "06_beyond", "Partial Fine-Tuning_2", "partial", "transformers", 2),
)
ALL_RUNS = RUNS + EXTENSIONS
# Notebook 07 (module arithmetic): LoRA_8 trained on each half of the training reviews, to be added.
HALVES: tuple[RunSpec, ...] = tuple(
    RunSpec(f"lora_half_{part}", "07_arithmetic", f"LoRA_8, training half {part}", "lora", "scratch", 8,
            defaults=(("train_part", f"{part}/2"),), weights_file=f"lora_half_{part}.pt") for part in (1, 2))
RUN_IDS = tuple(run.run_id for run in ALL_RUNS + HALVES)


def get_run(run_id: str) -> RunSpec:
    for run in ALL_RUNS + HALVES:
        if run.run_id == run_id:
            return run
    raise UserError(f"unknown run id {run_id!r}; valid run ids: {', '.join(RUN_IDS)}")
