"""The ten runs of the study: which notebook, which method, and the original study's numbers."""
from __future__ import annotations

from dataclasses import dataclass

from helpers import UserError


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    notebook: str
    label: str            # printed by the report exactly as the assignment names it
    method: str           # "full", "prompt", "adapter" or "lora"
    implementation: str   # "scratch", "opendelta", "adapterhub", "peft" (full_ft: "transformers")
    size: int = 0         # n_tokens, bottleneck or rank; 0 for full fine-tuning
    # Max validation accuracy (%) after 10 epochs in the original course study and in two
    # independent public submissions (A, B). References only: never mixed with our numbers.
    reference: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def size_key(self) -> str | None:
        return {"prompt": "n_tokens", "adapter": "bottleneck", "lora": "rank"}.get(self.method)


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
RUN_IDS = tuple(run.run_id for run in RUNS)


def get_run(run_id: str) -> RunSpec:
    for run in RUNS:
        if run.run_id == run_id:
            return run
    raise UserError(f"unknown run id {run_id!r}; valid run ids: {', '.join(RUN_IDS)}")
