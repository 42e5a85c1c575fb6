"""The benchmark's mails, made once an invocation: the same as making them each time."""

from __future__ import annotations

from bench.corpus import Corpus, make_corpus


def test_the_first_n_mails_are_the_corpus_of_n() -> None:
    corpus = Corpus(seed=8)
    assert corpus.first(3) == make_corpus(3, seed=8)
    assert corpus.first(5) == make_corpus(5, seed=8)  # made on, from mail 3
    assert corpus.first(2) == make_corpus(2, seed=8)
    assert corpus.first(2) != Corpus(seed=9).first(2)
