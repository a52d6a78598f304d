"""What the notebooks show, one way for all of them: the environment, a piece of source, the
parameter-count story, the identity check at initialisation, the curves, the reload check.
Each takes the notebook's own objects; none builds or trains a model."""
from __future__ import annotations

import inspect

import torch

from helpers.methods.counting import count_parameters, formula
from helpers.study.results import device_description, versions

# Two short reviews that every profile's tokenizer can read (the tiny one knows only its own words).
SAMPLE_REVIEWS = ["the plot was not bad .", "a dull film ."]


def show_environment() -> None:
    for name, version in versions().items():
        print(f"{name:<13} {version}")
    print(f"{'device':<13} {device_description()}")


def show_source(*objects) -> None:
    """Display the code of the classes/functions a notebook teaches, straight from helpers."""
    from IPython.display import Code, display

    for obj in objects:
        display(Code(inspect.getsource(obj), language="python"))


def parameter_story(experiment, model, added=None) -> None:
    """Trainable parameters of the backbone alone, then of `model`, with the formula's prediction
    for the added ones beside the measured count. `added(config, size)`: the notebook's own
    formula (a student's, in the handout); None: helpers' one."""
    run, settings, base = experiment.run, experiment.settings, experiment.backbone_parameters
    print(f"{'backbone, all trainable':<28} trainable {base:>12,} of {base:>12,} (100.0000%)")
    if run.method != "full":
        print(f"{'backbone, frozen':<28} trainable {0:>12,} of {base:>12,}")
    counts = count_parameters(model)
    print(counts.line(f"with {run.run_id}"))
    predicted, words = formula(run, model.config, settings.method_size(run))
    if added is not None:
        predicted = added(model.config, settings.method_size(run))
    measured = counts.total - base
    if predicted is None:   # the student repository: helpers' formula is cleared, theirs is in 02, 03, 05
        from helpers.study.runs import RUNS

        yours = next(r.notebook for r in RUNS if r.method == run.method and r.implementation == "scratch")
        print(f"added parameters: measured {measured:,}; formula {words}: blank in this repository's helpers "
              f"(you write it in notebook {yours})")
        return
    print(f"added parameters: measured {measured:,}; formula {words} = {predicted:,} -> "
          f"{'match' if measured == predicted else 'MISMATCH'}")


def first_step_logits(model, tokenizer, device=None) -> torch.Tensor:
    """Logits of the first decoder step for SAMPLE_REVIEWS: what label scoring reads."""
    device = device or next(model.parameters()).device
    batch = tokenizer(SAMPLE_REVIEWS, return_tensors="pt", padding=True).to(device)
    start = torch.full((len(SAMPLE_REVIEWS), 1), model.config.decoder_start_token_id, device=device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       decoder_input_ids=start, use_cache=False).logits   # one step: no cache to build
    model.train(was_training)
    return logits.float().cpu()


def check_identity(model, reference, tokenizer, atol: float = 0.0) -> None:
    """Does `model` compute what the pretrained `reference` does? Printed with the largest
    difference; atol > 0 for libraries whose T5 code differs from plain T5 by rounding. Returns
    nothing, so that the cell that ends with it shows the printed line and no stray value."""
    difference = (first_step_logits(model, tokenizer) - first_step_logits(reference, tokenizer)).abs().max().item()
    same = difference <= atol
    print(f"identity at initialisation: max |logit difference| to the pretrained model {difference:.2e} -> "
          f"{'identical' if same else 'NOT identical'}" + (f" (tolerance {atol:g})" if atol else ""))


def plot_accuracy(*records) -> None:
    """Validation accuracy per epoch (epoch 0 = before training) for one or more results."""
    import matplotlib.pyplot as plt

    from helpers.report.plots import accuracy_per_epoch

    fig, ax = plt.subplots(figsize=(6, 3.5))
    accuracy_per_epoch(ax, records)
    plt.show()


def plot_loss(*records) -> None:
    """Training loss at every step (first seed), one line per record."""
    import matplotlib.pyplot as plt

    from helpers.report.plots import loss_per_step

    fig, ax = plt.subplots(figsize=(6, 3.5))
    loss_per_step(ax, records)
    plt.show()


def summarise(*records) -> None:
    for record in records:
        print(f"{record['label']:<38} max val {record['max_val_accuracy']:.1%} (epoch {record['best_epoch']})  "
              f"test {record['test_accuracy']:.1%}  trainable {record['trainable_params']:,}")


def reload_and_check(experiment, model, result) -> None:
    """Load the saved weights into a fresh backbone: the test accuracy must equal the run's own,
    and the logits those of the notebook's `model`, which proves that `model` is the trained
    object and that the file holds everything the method needs. Printed, nothing returned (a
    cell ending with it shows no stray number)."""
    from helpers.methods.registry import load_weights
    from helpers.training.evaluation import label_accuracy

    settings, tokenizer = experiment.settings, experiment.tokenizer
    device = experiment.accelerator.device
    reloaded = load_weights(experiment.run, experiment.pretrained(), tokenizer, settings).to(device)
    accuracy = label_accuracy(reloaded, experiment.data["test"], tokenizer, experiment.label_ids,
                              settings.eval_batch_size, experiment.accelerator, "test (saved weights)")
    difference = (first_step_logits(reloaded, tokenizer) - first_step_logits(model, tokenizer)).abs().max().item()
    trained = result.test_accuracy   # `result` of the first seed, whose weights the file holds
    same = abs(accuracy - trained) < 1e-9
    print(f"reloaded {experiment.run.run_id} from its weights: test accuracy {accuracy:.4f} "
          f"(training run: {trained:.4f}) -> {'same' if same else 'DIFFERENT'}")
    print(f"the notebook's trained `model` against the reloaded weights: max |logit difference| {difference:.2e} -> "
          f"{'same model' if difference < 1e-5 else 'DIFFERENT'}")
