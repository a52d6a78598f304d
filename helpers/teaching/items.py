"""The graded items of notebooks 02, 03 and 05, with their points (the course's 25, 25 and 30).
Each item reads one answer the sandbox returned (answer.py's questions, asked on this grading's
fresh draw) and decides it here, against references the grader computes itself: the library
twin's counts, logits and gradients on the same tensors, the backbone's own logits, a plain T5
loaded with the merged weights."""
from __future__ import annotations

import math
import warnings

import torch

from helpers.teaching.checks import (Failed, Item, close, copy_into, expect, logits, n_total, reference, tensor,
                                     trainable)
from helpers.teaching.draw import LEARN_SIZE
from helpers.teaching.twins import LIBRARY, TWINS, method_places, same_places

# The course's weights (percent of the grade); 01, 04 and the report have no from-scratch code.
COURSE_WEIGHTS = {"01_full_finetuning": 5, "02_prompt_tuning": 25, "03_adapter": 25, "04_adapter_adapterhub": 5,
                  "05_lora": 30, "report": 15}
BY_HAND = {"01_full_finetuning": "no from-scratch code: graded by hand (it runs, its curves and numbers are discussed)",
           "04_adapter_adapterhub": "library calls only: graded by hand (it runs, scratch vs library discussed)",
           "report": "written report: graded by hand"}
PROMPT, ADAPTER, LORA = "02_prompt_tuning", "03_adapter", "05_lora"
METHOD_OF = {PROMPT: "prompt", ADAPTER: "adapter", LORA: "lora"}
BUILDER = {"prompt": "SoftPromptT5", "adapter": "add_adapters", "lora": "add_lora"}
FORMULA = {"prompt": "prompt_added", "adapter": "adapter_added", "lora": "lora_added"}
LEARNING_RATE = {"prompt": 0.3, "adapter": 1e-2, "lora": 1e-2}
STEPS = 40   # enough for every method's loss to fall clearly on the fixed `learn` shape (measured)
# The run starts where the twin's does when their first losses agree this closely: float32 rounding moves a
# loss by about 1e-7 of itself, the smallest forward mistake planted in tests by 9e-3 (no residual).
SAME_START = 1e-4
COMMON_TOKENS = 5000   # the handout's init_from_vocabulary samples among these ids


def questions(notebook: str, draw) -> list[dict]:
    """What the sandbox is asked for one notebook: {id, kind, needs, ...} (answer.py's QUESTIONS)."""
    method = METHOD_OF[notebook]
    build = (BUILDER[method],)
    one = {"method": method, "config": "c0", "size": draw.size}
    asked = [{"id": f"{method}.formula", "kind": "formula", "needs": (FORMULA[method],), "function": FORMULA[method],
              "cases": draw.sizes[method]},
             {"id": f"{method}.structure", "kind": "structure", "needs": build, "method": method, "cases": draw.sizes[method]},
             {"id": f"{method}.fresh", "kind": "fresh", "needs": build, **one},
             {"id": f"{method}.library", "kind": "library", "needs": build, "seed": draw.seed % 10**6, **one},
             {"id": f"{method}.learns", "kind": "learns", "needs": build, "lr": LEARNING_RATE[method], "steps": STEPS,
              "method": method, "config": "learn", "size": LEARN_SIZE}]
    if method == "prompt":
        asked += [{"id": "prompt.init", "kind": "init", "needs": ("init_from_vocabulary",), "n": 6,
                   "seeds": draw.init_seeds, "special": draw.init_special},
                  {"id": "prompt.forward", "kind": "forward", "needs": ("SoftPrompt",)}]
    if method == "lora":
        asked.append({"id": "lora.merge", "kind": "merge", "needs": ("add_lora", "merge_lora"), "config": "c0",
                      "size": draw.size, "seed": draw.seed % 10**6 + 1})
    return asked


# ---- references ----------------------------------------------------------------------------------
def twin(draw, method: str, key: str, size: int):
    """A fresh library twin on the drawn backbone `key` (a new one each call: callers change it)."""
    return TWINS[method](draw.backbone(key), size)


def twin_shapes(draw, method: str, key: str, size: int) -> dict[str, tuple]:
    """{name: shape} of the twin's trainable tensors, built once per grading for each case."""
    cache = draw.cache.setdefault("shapes", {})
    if (method, key, size) not in cache:
        cache[method, key, size] = {n: tuple(p.shape) for n, p in trainable(twin(draw, method, key, size)).items()}
    return cache[method, key, size]


def twin_count(draw, method: str, key: str, size: int) -> int:
    return sum(math.prod(shape) for shape in twin_shapes(draw, method, key, size).values())


def twin_places(draw, method: str, key: str, size: int) -> dict:
    return method_places(method, twin_shapes(draw, method, key, size), draw.configs[key], size)


def placed(answer, draw, method: str, source: str = "t.", key: str = "c0",
           size: int | None = None) -> tuple[dict, dict, object]:
    """A fresh twin holding the student's method tensors in the matching places: ({place: student
    tensor name}, {place: twin tensor name}, twin). The tensors are the answer's trainable ones
    (`t.`), or their values under another prefix (`before.`). Failed where they break the contract."""
    config, size = draw.configs[key], draw.size if size is None else size
    ours = {n[2:]: answer.tensors.get(source + n[2:]) for n in answer.tensors if n.startswith("t.")}
    expect(ours and all(isinstance(t, torch.Tensor) for t in ours.values()), "no trainable tensors")
    student = method_places(method, {n: tuple(t.shape) for n, t in ours.items()}, config, size)
    library = twin_places(draw, method, key, size)
    same_places(method, student, library)
    model = twin(draw, method, key, size)
    theirs = trainable(model)
    for place, name in student.items():
        copy_into(theirs[library[place]], ours[name])
    return student, library, model


# ---- the checks -----------------------------------------------------------------------------------
def check_formula(method: str):
    def check(answer, draw):
        cases, values = draw.sizes[method], answer.data.get("values")
        expect(isinstance(values, list) and len(values) == len(cases), "malformed answer: not one value per case")
        for (key, size), given in zip(cases, values):
            truth = twin_count(draw, method, key, size)
            expect(given == truth, f"{FORMULA[method]}(config, {size}) = {given} for {draw.describe(key)}; "
                                   f"{LIBRARY[method]} trains {truth:,}")
    return check


def check_count(method: str):
    """The student's model trains exactly what the twin trains, in the twin's places, and adds
    nothing else to T5 (the backbone is frozen, not copied)."""
    def check(answer, draw):
        cases = answer.data.get("cases")
        expect(isinstance(cases, list) and len(cases) == len(draw.sizes[method]), "malformed answer: not one case per size")
        for (key, size), case in zip(draw.sizes[method], cases):
            shapes = {str(n): tuple(int(x) for x in s) for n, s in case["trainable"]}
            got, truth = sum(math.prod(s) for s in shapes.values()), twin_count(draw, method, key, size)
            frozen = " (is the backbone frozen?)" if got > truth else ""
            expect(got == truth, f"trains {got:,} parameters on {draw.describe(key)}, size {size}; "
                                 f"{LIBRARY[method]} trains {truth:,}{frozen}")
            same_places(method, method_places(method, shapes, draw.configs[key], size),
                        twin_places(draw, method, key, size))
            added = int(case["total"]) - n_total(draw.backbone(key))
            expect(added == truth, f"adds {added:,} parameters to T5, of which {truth:,} train: "
                                   "the method's tensors are all it may add")
    return check


def check_identity(method: str):
    def check(answer, draw):
        batch = draw.batch()
        reference = logits(draw.backbone("c0"), batch)
        given = tensor(answer, "logits", reference.shape, "the fresh model's logits")
        difference = (given - reference).abs().max().item()
        expect(difference <= 1e-6, f"not the identity at initialisation: the logits move by {difference:.2e}")
        _, _, model = placed(answer, draw, method)
        moved = (logits(model, batch) - reference).abs().max().item()
        expect(moved <= 1e-6, f"the method's tensors as initialised move {LIBRARY[method]}'s logits by {moved:.2e}: "
                              "the update must start at exactly zero")
    return check


def check_library(method: str):
    def check(answer, draw):
        student, library, model = placed(answer, draw, method)
        places = sorted(student)
        truth = reference(model, draw.batch(), [library[p] for p in places])
        given = tensor(answer, "logits", truth.logits.shape, "the logits")
        close(given, truth.logits, f"logits and {LIBRARY[method]}'s on the same tensors", truth.logit_bound)
        for place, grad in zip(places, truth.gradients):
            name = student[place]
            given = tensor(answer, f"g.{name}", grad.shape, f"the gradient of {name}")
            close(given, grad, f"gradients of {name} and {LIBRARY[method]}'s", truth.gradient_bound)
    return check


def check_merge(answer, draw):
    expect(not answer.data.get("returned_none"), "merge_lora returns None; return the model")
    merged = {n[2:]: t for n, t in answer.tensors.items() if n.startswith("m.")}
    plain = draw.backbone("c0")
    left = sorted(set(merged) - set(plain.state_dict()))
    expect(not left, f"{left[0] if left else ''} left after merging: a plain T5 has no LoRA tensor")
    missing = sorted(set(plain.state_dict()) - set(merged))
    expect(not missing, f"the merged model lacks {missing[0] if missing else ''}")
    try:
        plain.load_state_dict(merged)
    except RuntimeError as error:
        raise Failed(f"the merged weights do not fit a plain T5: {str(error).splitlines()[-1].strip()[:160]}") from None
    _, _, model = placed(answer, draw, "lora")
    batch = draw.batch()
    truth = reference(model, batch)
    close(logits(plain, batch), truth.logits, "the merged model's logits and PEFT LoRA's (unmerged, same tensors)",
          truth.logit_bound)


def twin_losses(model, method: str, batch) -> list[float]:
    """The losses of the sandbox's short run (same batch, optimizer, learning rate and steps)
    repeated on `model`, the library twin holding the student's initial method tensors."""
    optimizer = torch.optim.AdamW(trainable(model).values(), lr=LEARNING_RATE[method], weight_decay=0.0)
    model.train()
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(STEPS):
            loss = model(**batch, use_cache=False).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def check_learns(method: str):
    """A short run on one batch: of the model's tensors only the method's changed (the trained ones
    must be the method's, by the contract), and the loss the sandbox reports falls. Where the run
    starts at the library twin's loss (the same model, up to rounding), it must also fall at least
    half as far as the twin's from the same tensors: how far a correct method gets in a few steps
    depends on the draw (a prompt's loss falls by a third at the median, by under a fifth in 2 of
    1,461 draws, which a fixed bar of a fifth failed), and the twin says how far it gets on this
    one. Where it starts elsewhere, its forward differs from the library's (identity and library
    already cost that) and the twin's fall says nothing about its own (an adapter without its
    residual, starting from uniform logits, fell 0.35-0.89 times as far over 280 draws): only that
    it falls is asked."""
    def check(answer, draw):
        losses = answer.data.get("losses")
        expect(isinstance(losses, list) and len(losses) == STEPS and all(isinstance(x, (int, float)) for x in losses),
               "malformed answer: no losses")
        expect(all(map(math.isfinite, losses)), "the training loss is not finite")
        # the contract checked once: the trained tensors are the method's, and the twin gets their initial values
        student, _, model = placed(answer, draw, method, source="before.", key="learn", size=LEARN_SIZE)
        trained = set(student.values())
        for name in (n[len("before."):] for n in answer.tensors if n.startswith("before.")):
            before, after = answer.tensors[f"before.{name}"], answer.tensors.get(f"after.{name}")
            if name not in trained and (after is None or not torch.equal(before, after)):
                raise Failed(f"frozen weights changed in training: {name} (the backbone must stay as it was)")
        expect(losses[-1] < losses[0], f"the loss does not fall: {losses[0]:.3f} to {losses[-1]:.3f} in {STEPS} steps")
        theirs = twin_losses(model, method, draw.batch())
        if abs(losses[0] - theirs[0]) <= SAME_START * theirs[0]:
            expect(losses[0] - losses[-1] >= (theirs[0] - theirs[-1]) / 2,
                   f"the loss falls from {losses[0]:.3f} to {losses[-1]:.3f} in {STEPS} steps; "
                   f"{LIBRARY[method]}'s, from the same tensors, falls from {theirs[0]:.3f} to {theirs[-1]:.3f}")
    return check


def check_init(answer, draw):
    embedding = draw.tensors["init.embedding"]
    rows = [tensor(answer, f"rows.{i}", (6, embedding.size(1)), "the initial prompt") for i in range(3)]
    expect(not answer.data.get("requires_grad"), "the initial prompt is not detached from the embedding")
    ids = [(embedding == row).all(-1).nonzero().flatten().tolist() for row in rows[0]]
    expect(all(len(i) == 1 for i in ids), "rows are not copies of vocabulary embeddings")
    ids = [i[0] for i in ids]
    expect(len(set(ids)) == len(ids), f"token ids repeat: {ids}")
    special = sorted(set(ids) & set(draw.init_special))
    expect(not special, f"special tokens sampled: {special}")
    expect(max(ids) < COMMON_TOKENS, f"token id {max(ids)} is not among the first COMMON_TOKENS = {COMMON_TOKENS}")
    expect(torch.equal(rows[0], rows[1]), "not reproducible for one seed")
    expect(not torch.equal(rows[0], rows[2]), "the seed changes nothing")
    after = tensor(answer, "embedding_after", embedding.shape, "the embedding")
    expect(torch.equal(after, embedding), "the prompt shares memory with the embedding: changing it changed the embedding")


def check_forward(answer, draw):
    initial, embeds, mask = (draw.tensors[f"forward.{n}"] for n in ("initial", "embeds", "mask"))
    n, (batch, length, d) = initial.size(0), embeds.shape
    expect(answer.data.get("prompt_is_parameter"), "SoftPrompt has no nn.Parameter `prompt`")
    out = tensor(answer, "embeds", (batch, n + length, d), "the embeddings")
    expect(torch.equal(out[:, :n], initial.expand(batch, -1, -1)) and torch.equal(out[:, n:], embeds),
           "embeddings are not [prompt; input]")
    given = tensor(answer, "mask", None, "the attention mask")
    expect(tuple(given.shape) == (batch, n + length),
           f"attention mask of shape {tuple(given.shape)}, expected ({batch}, {n} + {length}): extend it by the prompt")
    expect(torch.equal(given[:, :n].long(), torch.ones(batch, n, dtype=torch.long)) and torch.equal(given[:, n:].long(), mask),
           "attention mask is not [ones; mask]")


ITEMS: tuple[Item, ...] = (
    Item("prompt.formula", PROMPT, 4, "prompt.formula", check_formula("prompt"),
         "prompt_added: PEFT prompt tuning's exact count, on three T5 shapes"),
    Item("prompt.init", PROMPT, 4, "prompt.init", check_init, "init: distinct real, non-special tokens, seeded, detached"),
    Item("prompt.count", PROMPT, 3, "prompt.structure", check_count("prompt"), "trains n x d_model, T5 frozen"),
    Item("prompt.forward", PROMPT, 5, "prompt.forward", check_forward, "forward: [prompt; embeds], mask extended"),
    Item("prompt.library", PROMPT, 6, "prompt.library", check_library("prompt"),
         "same logits and gradients as PEFT prompt tuning"),
    Item("prompt.learns", PROMPT, 3, "prompt.learns", check_learns("prompt"),
         "a short run learns as the library does, the backbone unchanged"),
    Item("adapter.formula", ADAPTER, 5, "adapter.formula", check_formula("adapter"),
         "adapter_added: AdapterHub SeqBn's exact count, on three T5 shapes"),
    Item("adapter.count", ADAPTER, 4, "adapter.structure", check_count("adapter"),
         "trains SeqBn's count, one adapter per block, T5 frozen"),
    Item("adapter.identity", ADAPTER, 5, "adapter.fresh", check_identity("adapter"), "identity at initialisation"),
    Item("adapter.library", ADAPTER, 7, "adapter.library", check_library("adapter"),
         "same logits and gradients as AdapterHub SeqBn"),
    Item("adapter.learns", ADAPTER, 4, "adapter.learns", check_learns("adapter"),
         "a short run learns as the library does, the backbone unchanged"),
    Item("lora.formula", LORA, 5, "lora.formula", check_formula("lora"), "lora_added: PEFT LoRA's exact count, on three T5 shapes"),
    Item("lora.count", LORA, 5, "lora.structure", check_count("lora"), "trains PEFT's count on q and v only, T5 frozen"),
    Item("lora.identity", LORA, 5, "lora.fresh", check_identity("lora"), "identity at initialisation"),
    Item("lora.library", LORA, 7, "lora.library", check_library("lora"), "same logits and gradients as PEFT LoRA"),
    Item("lora.merge", LORA, 4, "lora.merge", check_merge, "merge: a plain T5 with PEFT's logits"),
    Item("lora.learns", LORA, 4, "lora.learns", check_learns("lora"),
         "a short run learns as the library does, the backbone unchanged"),
)
