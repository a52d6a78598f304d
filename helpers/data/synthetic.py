"""A deterministic synthetic review corpus and a word-level tokenizer built offline.

The tiny profile stands in for IMDB when no hub is reachable. Reviews mix sentiment words,
negations that flip the next sentiment word ("not good"), intensifiers and neutral filler, so
that a bag of words is not enough: a model must read "not" in context. Like real reviews, most
opinions agree with the verdict and some do not. The label is the sign of the summed polarity,
with the clause after "but" counting double, as reviewers often conclude.
"""
from __future__ import annotations

import random
from pathlib import Path

from helpers.study.paths import cache_dir, cached_folder

POSITIVE = ["good", "great", "excellent", "wonderful", "superb", "brilliant", "moving", "charming",
            "delightful", "fun", "beautiful", "clever", "gripping", "funny", "fresh", "touching"]
NEGATIVE = ["bad", "awful", "boring", "terrible", "dull", "weak", "poor", "clumsy", "tedious",
            "messy", "ugly", "silly", "bland", "painful", "stale", "shallow"]
NEGATIONS = ["not", "never", "hardly"]
INTENSIFIERS = ["very", "really", "truly", "quite", "so"]
NOUNS = ["movie", "film", "plot", "acting", "cast", "story", "script", "director", "score",
         "ending", "dialogue", "pacing", "camera", "sequel", "lead", "villain"]
FILLER = ["i", "we", "saw", "it", "on", "a", "sunday", "with", "my", "friends", "the", "cinema",
          "was", "full", "and", "runs", "two", "hours", "long", "based", "book", "released", "last",
          "year", "in", "theaters", "popcorn", "tickets", "trailer", "had", "seen", "before", "this",
          "of", "at", "night", "after", "work", "is", "an", "old", "new", "french", "studio"]
LABELS = ("negative", "positive")   # label 0, label 1: the target words of the text-to-text task

# The tiny backbone's supervised pretraining task is named by a prefix token (like T5's "sst2
# sentence:"). Fine-tuning inputs carry no prefix, so a method must learn to call up the skill.
TASK_TOKENS = ["<sentiment>"]
ANSWERS = ["yes", "no"]
SPECIAL = ["<pad>", "</s>", "<unk>"]   # ids 0, 1, 2 as in T5: pad doubles as decoder start


def vocabulary() -> list[str]:
    words = SPECIAL + TASK_TOKENS + list(LABELS) + ANSWERS
    for word in POSITIVE + NEGATIVE + NEGATIONS + INTENSIFIERS + NOUNS + FILLER + ["but", "."]:
        if word not in words:
            words.append(word)
    return words


NEGATION_RATE = 0.15   # share of opinions phrased with a negation ("not good")


def _opinion(rng: random.Random, polarity: int) -> list[str]:
    """One clause meaning `polarity` (+1/-1): "good", or "not" + a word of the opposite sign."""
    words = ["the", rng.choice(NOUNS), "was"]
    negated = rng.random() < NEGATION_RATE
    if negated:
        words.append(rng.choice(NEGATIONS))
    if rng.random() < 0.3:
        words.append(rng.choice(INTENSIFIERS))
    positive_word = (polarity > 0) != negated
    words.append(rng.choice(POSITIVE if positive_word else NEGATIVE))
    return words


def _neutral(rng: random.Random) -> list[str]:
    return [rng.choice(FILLER) for _ in range(rng.randint(2, 7))]


AGREEMENT = 0.85       # share of opinions that agree with the review's overall label


def make_review(rng: random.Random) -> tuple[str, int]:
    """A review and its label (1 positive, 0 negative). Most opinions agree with the label, some
    do not; the label is always the sign of the summed polarity, so it is never ambiguous."""
    label = int(rng.random() < 0.5)
    sign = 1 if label else -1
    while True:
        words: list[str] = []
        score = 0
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.35:
                words += _neutral(rng) + ["."]
                continue
            polarity = sign if rng.random() < AGREEMENT else -sign
            clause = _opinion(rng, polarity)
            if words and rng.random() < 0.25:
                # "..., but the ending was great": the conclusion weighs double
                words += ["but"] + clause + ["."]
                score += 2 * polarity
            else:
                words += clause + ["."]
                score += polarity
        if score * sign > 0:
            return " ".join(words), label


def make_split(n: int, seed: int) -> dict[str, list]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        text, label = make_review(rng)
        texts.append(text)
        labels.append(label)
    return {"text": texts, "label": labels}


def build_tokenizer():
    """A word-level tokenizer with T5's special-token layout, wrapped as a transformers tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: index for index, word in enumerate(vocabulary())}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # T5 appends </s> to every encoded text; so does this tokenizer.
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=512,
                                   # special, so that sampled prompt initialisations never pick them
                                   additional_special_tokens=TASK_TOKENS,
                                   model_input_names=["input_ids", "attention_mask"])


DATA_SIZES = dict(train=3000, test=1000)
DATA_SEEDS = dict(train=1, test=2)   # distinct from the tiny backbone's pretraining seed: no review is reused
DATA_VERSION = 1                     # bump when the corpus changes, so the cached files rebuild


def synthetic_data_dir() -> Path:
    """Parquet files train/test of the synthetic corpus, loaded like any DATA_PATH folder."""
    def build(folder: Path) -> None:
        import pandas as pd

        for split, size in DATA_SIZES.items():
            pd.DataFrame(make_split(size, DATA_SEEDS[split])).to_parquet(folder / f"{split}.parquet")

    fingerprint = {"version": DATA_VERSION, "sizes": DATA_SIZES, "seeds": DATA_SEEDS}
    return cached_folder(cache_dir("tiny") / "synthetic-data", fingerprint, build)
