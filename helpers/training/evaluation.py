"""Accuracy two ways.

Label-token scoring (used for every epoch): one forward pass with the decoder at its first step;
the prediction is whichever label word ("negative" / "positive") gets the higher logit. Never an
invalid output, and about 25x cheaper than generating.

Generate + string match (the course's metric, final test only): greedy decoding, prediction
valid only if the text is exactly a label word; the invalid-output rate is reported beside it.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

from helpers.training.runtime import progress
from helpers.data.batching import collate, evaluation_batches, shard

LABEL_WORDS = ("negative", "positive")


def _batches(encoded, batch_size, rank, world):
    return shard(evaluation_batches(encoded.lengths(), batch_size), rank, world, equal=False)


def output_layer(model) -> torch.nn.Linear:
    """The LM head (`lm_head`) inside any wrapper: PEFT's, OpenDelta's, the from-scratch prompt's."""
    heads = [module for name, module in model.named_modules() if name.rpartition(".")[2] == "lm_head"]
    if len(heads) != 1:
        raise ValueError(f"expected one lm_head in {type(model).__name__}, found {len(heads)}")
    return heads[0]


@torch.no_grad()
def label_logits(model, input_ids, attention_mask, label_ids, decoder_start_id: int) -> torch.Tensor:
    """(B, 2) fp32 logits of the two label tokens at the first decoder step.

    Under bf16 autocast the LM head's output is bf16 (8 bits of mantissa): two close label logits
    round to the same value (a tie, which argmax gives to "negative") or swap. So the head's two
    label rows are applied here in fp32 to the head's input (fp32: T5's final layer norm computes
    in fp32), as a sum of products, which autocast leaves in fp32 (a matmul it would cast)."""
    head, captured = output_layer(model), []
    hook = head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    start = torch.full((input_ids.size(0), 1), decoder_start_id, dtype=torch.long, device=input_ids.device)
    try:
        model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=start, use_cache=False)
    finally:
        hook.remove()
    hidden = captured[-1][:, 0].float()                                        # (B, d_model)
    rows = head.weight[label_ids].float()                                      # (2, d_model)
    logits = (hidden[:, None, :] * rows[None]).sum(-1)                         # (B, 2)
    return logits if head.bias is None else logits + head.bias[label_ids].float()


@torch.no_grad()
def scoring_counts(model, encoded, *, batch_size, label_ids, eos_id, pad_id, decoder_start_id,
                   device, rank=0, world=1, desc="evaluating", autocast=None) -> tuple[int, int]:
    """(correct, total) over this process's share of `encoded`."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for indices in progress(_batches(encoded, batch_size, rank, world), desc, rank):
        batch = collate(encoded, indices, label_ids, eos_id, pad_id)
        with autocast() if autocast else nullcontext():
            scores = label_logits(model, batch["input_ids"].to(device), batch["attention_mask"].to(device),
                                  label_ids, decoder_start_id)
        correct += (scores.argmax(-1).cpu() == batch["classes"]).sum().item()
        total += len(indices)
    model.train(was_training)
    return correct, total


@torch.no_grad()
def label_predictions(model, encoded, tokenizer, label_ids, batch_size: int, device, autocast=None) -> torch.Tensor:
    """(N,) predicted class (0/1) of every review of `encoded`, in its order (one process), under
    `autocast` (the accelerator's, as every other accuracy is scored) when given."""
    was_training = model.training
    model.eval()
    predictions = torch.empty(len(encoded), dtype=torch.long)
    for indices in progress(_batches(encoded, batch_size, 0, 1), "predicting", 0):
        batch = collate(encoded, indices, label_ids, tokenizer.eos_token_id, tokenizer.pad_token_id)
        with autocast() if autocast else nullcontext():
            scores = label_logits(model, batch["input_ids"].to(device), batch["attention_mask"].to(device), label_ids,
                                  model.config.decoder_start_token_id)
        predictions[indices] = scores.argmax(-1).cpu()
    model.train(was_training)
    return predictions


def label_accuracy(model, encoded, tokenizer, label_ids, batch_size: int, accelerator, desc: str) -> float:
    """Label-scoring accuracy over all processes: each scores its share, the counts are summed."""
    correct, total = scoring_counts(model, encoded, batch_size=batch_size, label_ids=label_ids,
                                    eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id,
                                    decoder_start_id=model.config.decoder_start_token_id, device=accelerator.device,
                                    rank=accelerator.process_index, world=accelerator.num_processes, desc=desc,
                                    autocast=accelerator.autocast)
    counts = accelerator.reduce(torch.tensor([correct, total], device=accelerator.device), reduction="sum")
    return counts[0].item() / counts[1].item()


@torch.no_grad()
def generation_counts(model, tokenizer, encoded, *, batch_size, label_ids, device, rank=0, world=1,
                      autocast=None) -> tuple[int, int, int]:
    """(correct, invalid, total): greedy generation compared with the label word as a string."""
    was_training = model.training
    model.eval()
    correct = invalid = total = 0
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    for indices in progress(_batches(encoded, batch_size, rank, world), "test (generate)", rank):
        batch = collate(encoded, indices, label_ids, eos_id, pad_id)
        with autocast() if autocast else nullcontext():
            output = model.generate(input_ids=batch["input_ids"].to(device),
                                    attention_mask=batch["attention_mask"].to(device), max_new_tokens=4, do_sample=False)
        texts = [t.strip() for t in tokenizer.batch_decode(output, skip_special_tokens=True)]
        for text, cls in zip(texts, batch["classes"].tolist()):
            if text not in LABEL_WORDS:
                invalid += 1
            elif text == LABEL_WORDS[cls]:
                correct += 1
        total += len(indices)
    model.train(was_training)
    return correct, invalid, total
