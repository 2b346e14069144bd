#!/usr/bin/env python3
"""Writes tiny models (built from configs, random but seeded weights) into the model store
under pgml-tiny/, so every pgml.transform example in the README runs offline:

    make tiny-models        # or: .venv-test/bin/python scripts/tiny-models.py [STORE]

Their outputs have the real shapes and types but no meaning: for real answers, put real
models in the store (README, "Offline models").
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures import tiny_media, tiny_models, tiny_pipelines  # noqa: E402

BUILDERS = {
    "text-classifier": tiny_pipelines.text_classifier,
    "nli": tiny_pipelines.nli_classifier,
    "ner": tiny_pipelines.token_classifier,
    "fill-mask": tiny_pipelines.masked_lm,
    "gpt2": tiny_pipelines.gpt2,
    "cross-encoder": tiny_pipelines.cross_encoder,
    "t5": tiny_models.t5_seq2seq,
    "question-answering": tiny_models.bert_question_answering,
    "speech-to-text": tiny_media.wav2vec2_ctc,
    "image-classifier": tiny_media.vit_classifier,
}


def main():
    store = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PGML_MODEL_STORE", "/var/lib/pgml/models"))
    for name, build in BUILDERS.items():
        build(store / "pgml-tiny" / name)
        print("wrote", store / "pgml-tiny" / name)
    # Sample media for the README's BYTEA examples: pg_read_binary_file('<store>/pgml-tiny/samples/...').
    samples = store / "pgml-tiny" / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    (samples / "cat.png").write_bytes(tiny_media.png_bytes())
    (samples / "hello.wav").write_bytes(tiny_media.wav_bytes())
    for directory in (store, store / "pgml-tiny", samples):
        directory.chmod(0o755)
    for sample in samples.iterdir():
        sample.chmod(0o644)
    print("wrote", samples)


if __name__ == "__main__":
    main()
