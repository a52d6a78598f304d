"""The real IMDB reviews beside the repository (`../shared/data/imdb`, seen from its root), for tests
and measurements only (never committed here), and a T5-style tokenizer trained offline on them.

No pretrained T5 tokenizer can be downloaded here; a sentencepiece-style tokenizer with T5's
layout (<pad> 0, </s> 1, <unk> 2, 32,000 pieces, 100 sentinels, </s> appended, "▁" word starts)
trained on the training reviews gives the lengths, speed and code paths of the real one. Its
pieces are BPE rather than T5's Unigram: measured here, Unigram training took 95 s on the 25,000
reviews, BPE 13 s. Its ids are not t5-small's, so a random model measures everything but accuracy,
and in-domain pieces make reviews somewhat shorter than T5's C4-trained vocabulary would."""
from __future__ import annotations

from pathlib import Path

from helpers.study.paths import REPO_ROOT, cache_dir, cached_folder

TOKENIZER = dict(vocab_size=32_000, extra_ids=100, train_reviews=25_000, version=1)


def shared_imdb_dir() -> Path | None:
    """`<repository root>/../shared/data/imdb` when its two parquet files are there, else None."""
    folder = REPO_ROOT.parent / "shared" / "data" / "imdb"
    return folder if all((folder / f"{s}.parquet").is_file() for s in ("train", "test")) else None


def missing_reason() -> str:
    return (f"real IMDB reviews not found at {REPO_ROOT.parent / 'shared' / 'data' / 'imdb'} "
            "(train.parquet, test.parquet): they sit beside the repository on the CI machine only")


def train_t5_style_tokenizer(texts: list[str], vocab_size: int = TOKENIZER["vocab_size"],
                             extra_ids: int = TOKENIZER["extra_ids"]):
    """A BPE tokenizer with T5's special-token layout, as a transformers T5TokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import T5TokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.normalizer = normalizers.NFKC()
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    core.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    # T5 appends </s> to every encoded text; so does this one.
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return T5TokenizerFast(tokenizer_object=core, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                           extra_ids=extra_ids, model_max_length=512)


def imdb_tokenizer_dir() -> Path:
    """The T5-style tokenizer of the real training reviews, trained once and cached (needs the data)."""
    from helpers.data.reviews import load_local

    folder = shared_imdb_dir()
    if folder is None:
        from helpers import UserError
        raise UserError(missing_reason())

    def build(target: Path) -> None:
        texts = load_local(folder)["train"].text[:TOKENIZER["train_reviews"]]
        train_t5_style_tokenizer(texts).save_pretrained(target)

    return cached_folder(cache_dir("full") / "imdb-tokenizer", dict(TOKENIZER, data=str(folder)), build)
