"""What the notebooks display: environment, a method's source, the parameter-count story, the
accuracy curve, and the reload check. Shared so that five notebooks show things one way."""
from __future__ import annotations

import inspect

from .params import count_parameters, formula
from .results import device_description, versions


def show_environment() -> None:
    for name, version in versions().items():
        print(f"{name:<13} {version}")
    print(f"{'device':<13} {device_description()}")


def show_source(*objects) -> None:
    """Display the code of the classes/functions a notebook teaches, straight from helpers."""
    from IPython.display import Code, display

    for obj in objects:
        display(Code(inspect.getsource(obj), language="python"))


def parameter_story(run, backbone, build, settings) -> object:
    """Print trainable parameters before freezing, after freezing and after adding the method,
    with the formula's prediction beside the measured count; returns the built model."""
    before = count_parameters(backbone)
    print(before.line("backbone, all trainable"))
    model = build()
    after = count_parameters(model)
    if run.method != "full":
        print(f"{'backbone, frozen':<28} trainable {0:>12,} of {before.total:>12,}")
    print(after.line(f"with {run.run_id}"))
    predicted, words = formula(run, model.config, settings.method_size(run))
    added = after.total - before.total
    print(f"added parameters: measured {added:,}; formula {words} = {predicted:,} -> "
          f"{'match' if added == predicted else 'MISMATCH'}")
    return model


def plot_accuracy(*records) -> None:
    """Validation accuracy per epoch (epoch 0 = before training) for one or more results."""
    import matplotlib.pyplot as plt

    from .plots import accuracy_per_epoch

    fig, ax = plt.subplots(figsize=(6, 3.5))
    accuracy_per_epoch(ax, records)
    plt.show()


def reload_and_check(run, settings, record) -> float:
    """Load the saved weights into a fresh backbone and re-evaluate the test set: the number
    must equal the run's own test accuracy, proving the file holds everything the method needs."""
    from .experiment import evaluate_weights

    accuracy = evaluate_weights(run.run_id, settings)
    same = abs(accuracy - record["test_accuracy"]) < 1e-9
    print(f"reloaded {run.run_id} from its weights: test accuracy {accuracy:.4f} "
          f"(training run: {record['test_accuracy']:.4f}) -> {'same' if same else 'DIFFERENT'}")
    return accuracy
