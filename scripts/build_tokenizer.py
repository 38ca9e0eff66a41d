"""Train the byte-level BPE tokenizer of the tiny offline preset and write it to src/panovlm/assets/tokenizer/.

    python scripts/build_tokenizer.py [--vocab-size 4000] [--out src/panovlm/assets/tokenizer]

Corpus: PanoShapes captions and questions (``panovlm.data.synth.panoshapes_corpus``) plus ordinary
English prose, taken from the docstrings of a fixed list of Python standard-library modules and a short
built-in passage. Template captions alone use ~60 distinct words and saturate a BPE vocabulary at a few
hundred tokens (environment.md section 3), so the prose is what fills the vocabulary and lets the tiny
model read ordinary user prompts. The output is deterministic for a given Python version.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from panovlm.data.synth import panoshapes_corpus
from panovlm.models.fusion import CHATML_TEMPLATE

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>", "<|vision|>"]
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "panovlm" / "assets" / "tokenizer"

STDLIB_MODULES = (
    "abc argparse asyncio bisect calendar collections contextlib csv dataclasses datetime decimal difflib email "
    "enum fractions functools gettext glob heapq html http.client imaplib inspect ipaddress itertools json logging "
    "mailbox netrc numbers operator optparse os pathlib pickle pprint queue random re sched secrets selectors "
    "shlex shutil smtplib socket statistics string struct subprocess tarfile tempfile textwrap threading "
    "timeit tkinter turtle typing unittest urllib.parse uuid warnings wave weakref xml.dom.minidom zipfile"
).split()

PROSE = """
A panorama shows the whole world around the camera at once. Looking straight ahead you see the front of
the scene; turning to the right, then behind you, then to the left brings you back to where you started.
Photographers stitch many overlapping pictures into one wide image, and the sky fills the top while the
ground fills the bottom. Describe what you see, where each object is, and how far away it seems.
Please answer briefly. What colour is the large object on your left? Is there anything above you?
The room was quiet in the morning; sunlight crossed the floor and reached the old wooden table by the window.
People walked along the street, a bus stopped near the corner, and a dog waited patiently for its owner.
"""


def stdlib_prose() -> list[str]:
    """Sentences from standard-library docstrings: ordinary technical English, available offline."""
    lines: list[str] = []
    for name in STDLIB_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # e.g. tkinter missing on a headless build; the corpus just gets smaller
            continue
        docs = [inspect.getdoc(module) or ""]
        for _, obj in sorted(vars(module).items()):
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", "") == name:
                docs.append(inspect.getdoc(obj) or "")
        for doc in docs:
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if len(sentence) > 20 and sum(c.isalpha() for c in sentence) > 0.7 * len(sentence):
                    lines.append(sentence)
    return lines


def build(vocab_size: int, n_captions: int, seed: int) -> PreTrainedTokenizerFast:
    corpus = panoshapes_corpus(n_captions, seed) + stdlib_prose() + [s for s in PROSE.splitlines() if s.strip()]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=SPECIAL_TOKENS, show_progress=False)
    bpe.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=None, eos_token="<|im_end|>", pad_token="<|pad|>",
        unk_token=None, padding_side="left", additional_special_tokens=["<|endoftext|>", "<|im_start|>", "<|vision|>"],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.model_max_length = 4096
    print(f"corpus {len(corpus)} lines -> vocabulary {len(tokenizer)} tokens")
    return tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--captions", type=int, default=5000, help="PanoShapes sentences in the corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    tokenizer = build(args.vocab_size, args.captions, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(args.out)
    print(f"wrote {sorted(p.name for p in args.out.iterdir())} to {args.out}")


if __name__ == "__main__":
    main()
