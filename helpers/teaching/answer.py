"""The only code of the grader that runs beside a student's code, inside the sandbox:
`python answer.py FOLDER`. It is a standalone script (it imports nothing of helpers, which the
sandbox does not show), and it decides nothing: it runs the tagged cells the grader put in
FOLDER/task.json, calls the student's definitions on the inputs of FOLDER/inputs.safetensors and
writes what they return to FOLDER/answers/ (JSON and safetensors, never pickle). The grader reads
those answers after this process and everything it started are gone, and compares them with
references it computed itself. Whatever a cell patches here can only change the answers, and an
answer earns a point only if it is what a correct implementation gives on inputs drawn afresh."""
import contextlib
import io
import json
import os
import re
import sys
import traceback

UNPRIVILEGED = 65534   # "nobody": process limits hold for it, never for root


def drop_privileges() -> None:
    """Started as root (the grader runs as root in CI): become nobody before any student code runs,
    so that the process limit applies and no capability is left."""
    if os.getuid() == 0 and not os.environ.get("PEFT_GRADE_UNSANDBOXED"):   # --no-sandbox: the TA's own rights
        os.setgroups([])
        os.setresgid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
        os.setresuid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
        # Python looked at /grading/lib as root without rights, which cannot enter nobody's folder
        sys.path_importer_cache.clear()


class Refuse:
    """An import hook: the named modules cannot be imported in graded cells, with the rule said.
    (The sandbox also hides their files, so removing this hook gains nothing.)"""

    def __init__(self, names, rule):
        self.names, self.rule = tuple(names), rule

    def find_spec(self, name, path=None, target=None):
        if any(name == blocked or name.startswith(blocked + ".") for blocked in self.names):
            raise ImportError(f"import of {name} is not allowed in graded cells: {self.rule}")
        return None


def one_line(error: BaseException) -> str:
    if isinstance(error, NotImplementedError):
        return "not implemented"
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    where = traceback.extract_tb(error.__traceback__)
    cell = next((f" ({f.filename}, line {f.lineno})" for f in reversed(where) if f.filename.startswith("cell ")), "")
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}{cell}"[:300]


def run_cells(cells) -> tuple[dict, dict]:
    """Execute the tagged cells in order, as a kernel would: (namespace, {cell label: error})."""
    namespace = {"__name__": "__student__", "show_source": lambda *objects: None}   # the solution's display call
    errors = {}
    for number, cell in enumerate(cells, 1):
        try:
            with contextlib.redirect_stdout(io.StringIO()):   # a notebook's prints are not evidence
                exec(compile(cell["source"], f"cell {number}", "exec"), namespace)
        except BaseException as error:   # SystemExit, KeyboardInterrupt in student code included
            errors[cell["label"]] = one_line(error)
    return namespace, errors


# ---- building the student's model from the grader's inputs ------------------------------------
class Inputs:
    def __init__(self, task, tensors):
        self.task, self.tensors = task, tensors

    def backbone(self, key):
        import torch
        from transformers import T5Config, T5ForConditionalGeneration

        model = T5ForConditionalGeneration(T5Config(**self.task["configs"][key]))
        prefix = f"{key}."
        weights = {name[len(prefix):]: t for name, t in self.tensors.items() if name.startswith(prefix)}
        model.load_state_dict(weights, strict=False)   # the tied head shares the embedding's tensor
        with torch.no_grad():
            model.lm_head.weight.copy_(model.shared.weight)
        return model.eval()

    def batch(self):
        return {name: self.tensors[f"batch.{name}"] for name in ("input_ids", "attention_mask", "labels")}


def build(namespace, inputs, method, key, size):
    """The student's model, built as the notebook builds it (the contracts the docstrings state)."""
    backbone = inputs.backbone(key)
    if method == "prompt":
        return namespace["SoftPromptT5"](backbone, inputs.tensors[f"initial.{key}.{size}"].clone())
    if method == "adapter":
        return namespace["add_adapters"](backbone, size)
    return namespace["add_lora"](backbone, rank=size, alpha=8, dropout=0.0)


def trainable(model):
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def logits(model, batch):
    import torch

    start = torch.zeros((batch["input_ids"].size(0), 1), dtype=torch.long)
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=start).logits


def randomise(model, seed):
    """Non-trivial method tensors (B and W_up start at zero): each trainable tensor in order gets
    seeded normal values, returned so that the grader can put the same values in the library twin."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in trainable(model):
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    return {f"t.{name}": p.detach().clone() for name, p in trainable(model)}


# ---- the questions: each returns (json data, tensors) -----------------------------------------
def ask_formula(namespace, inputs, q):
    from transformers import T5Config

    values = []
    for key, size in q["cases"]:
        value = namespace[q["function"]](T5Config(**inputs.task["configs"][key]), size)
        values.append(value if isinstance(value, int) and not isinstance(value, bool) else repr(value)[:80])
    return {"values": values}, {}


def ask_init(namespace, inputs, q):
    import torch

    embedding = torch.nn.Embedding.from_pretrained(inputs.tensors["init.embedding"].clone(), freeze=False)
    rows = [namespace["init_from_vocabulary"](embedding, q["n"], seed, q["special"]) for seed in q["seeds"]]
    first = rows[0]
    data = {"requires_grad": bool(first.requires_grad)}
    tensors = {f"rows.{i}": r.detach().clone() for i, r in enumerate(rows)}
    with torch.no_grad():
        first.add_(1.0)   # a copy leaves the embedding as it was
    tensors["embedding_after"] = embedding.weight.detach().clone()
    return data, tensors


def ask_structure(namespace, inputs, q):
    cases = []
    for key, size in q["cases"]:
        model = build(namespace, inputs, q["method"], key, size)
        cases.append({"trainable": [[name, list(p.shape)] for name, p in trainable(model)],
                      "total": sum(p.numel() for p in model.parameters())})
    return {"cases": cases}, {}


def ask_forward(namespace, inputs, q):
    import torch

    soft = namespace["SoftPrompt"](inputs.tensors["forward.initial"].clone())
    out, mask = soft(inputs.tensors["forward.embeds"], inputs.tensors["forward.mask"])
    return ({"prompt_is_parameter": isinstance(getattr(soft, "prompt", None), torch.nn.Parameter)},
            {"embeds": out.detach().clone(), "mask": mask.detach().clone()})


def ask_fresh(namespace, inputs, q):
    """The freshly built model: its logits and its method tensors as initialised."""
    import torch

    model = build(namespace, inputs, q["method"], q["config"], q["size"])
    with torch.no_grad():
        out = logits(model, inputs.batch())
    tensors = {f"t.{name}": p.detach().clone() for name, p in trainable(model)}
    return {}, {"logits": out, **tensors}


def ask_library(namespace, inputs, q):
    """Logits and gradients with every method tensor set to seeded random values (eval mode)."""
    import torch

    model = build(namespace, inputs, q["method"], q["config"], q["size"]).eval()
    tensors = randomise(model, q["seed"])
    batch = inputs.batch()
    model.zero_grad()
    model(**batch).loss.backward()
    for name, p in trainable(model):
        if p.grad is not None:
            tensors[f"g.{name}"] = p.grad.detach().clone()
    with torch.no_grad():
        tensors["logits"] = logits(model, batch)
    return {}, tensors


def ask_merge(namespace, inputs, q):
    model = build(namespace, inputs, "lora", q["config"], q["size"]).eval()
    tensors = randomise(model, q["seed"])
    merged = namespace["merge_lora"](model)
    if merged is None:
        return {"returned_none": True}, tensors
    tensors.update({f"m.{name}": t.detach().clone() for name, t in merged.state_dict().items()})
    return {"returned_none": False}, tensors


def ask_learns(namespace, inputs, q):
    """A short training run on one batch with AdamW over the model's trainable tensors: the losses,
    every tensor of the model before and after, and the trained method tensors."""
    import torch

    model = build(namespace, inputs, q["method"], q["config"], q["size"])
    before = {f"before.{name}": t.detach().clone() for name, t in model.state_dict().items()}
    parameters = [p for _, p in trainable(model)]
    optimizer = torch.optim.AdamW(parameters, lr=q["lr"], weight_decay=0.0)
    model.train()
    batch, losses = inputs.batch(), []
    for _ in range(q["steps"]):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    after = {f"after.{name}": t.detach().clone() for name, t in model.state_dict().items()}
    trained = {f"t.{name}": p.detach().clone() for name, p in trainable(model)}
    return {"losses": losses}, {**before, **after, **trained}


QUESTIONS = {"formula": ask_formula, "init": ask_init, "structure": ask_structure, "forward": ask_forward,
             "fresh": ask_fresh, "library": ask_library, "merge": ask_merge, "learns": ask_learns}


def answer(question, namespace, errors, inputs, out_dir) -> None:
    import torch
    from safetensors.torch import save_file

    missing = [name for name in question["needs"] if name not in namespace]
    if missing:
        broken = "; ".join(f"{label}: {why}" for label, why in errors.items())
        data, tensors = {"error": broken or f"no definition of {missing[0]} (keep the tagged cells)"}, {}
    else:
        torch.manual_seed(0)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                data, tensors = QUESTIONS[question["kind"]](namespace, inputs, question)
        except BaseException as error:   # a sys.exit() in a student's function costs only this answer
            # a cell that stopped early (a refused import, say) is the likelier cause: said first
            cells = "; ".join(f"{label}: {why}" for label, why in errors.items())
            data, tensors = {"error": f"{cells}; then: {one_line(error)}" if cells else one_line(error)}, {}
    name = re.sub(r"[^a-z0-9_.-]", "_", question["id"])
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, f"{name}.safetensors"))
    with open(os.path.join(out_dir, f"{name}.json"), "w") as out:
        json.dump(data, out)


def main(folder: str) -> int:
    drop_privileges()
    os.chdir(folder)   # after becoming nobody: the folder is nobody's alone
    import torch
    import transformers  # noqa: F401  (loaded before the hook: it probes for optional libraries at import)
    from safetensors.torch import load_file

    torch.set_num_threads(1)   # small models: threads cost more than they give
    with open(os.path.join(folder, "task.json")) as file:
        task = json.load(file)
    inputs = Inputs(task, load_file(os.path.join(folder, "inputs.safetensors")))
    sys.meta_path.insert(0, Refuse(task["refused"], task["rule"]))
    namespace, errors = run_cells(task["cells"])
    out_dir = os.path.join(folder, "answers")
    for question in task["questions"]:
        answer(question, namespace, errors, inputs, out_dir)
    return 0


if __name__ == "__main__":
    main(sys.argv[1])
    # At once: no atexit handler or thread a cell left behind runs after the answers (the sandbox
    # then kills any process it started).
    os._exit(0)
