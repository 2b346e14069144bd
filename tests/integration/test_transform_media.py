"""pgml.transform with BYTEA[] inputs (audio and image files) on tiny real models from a
temporary model store."""
import json

import pytest

from fixtures import tiny_media as media
from tests.conftest import connect_with_store

AUDIO_LABELS = set(media.AUDIO_LABELS.values())
IMAGE_LABELS = set(media.IMAGE_LABELS.values())
ASR = {"task": "automatic-speech-recognition", "model": "t/asr"}
AUDIO_CLS = {"task": "audio-classification", "model": "t/audio-cls"}
IMAGE_CLS = {"task": "image-classification", "model": "t/vit"}
DETECTION = {"task": "object-detection", "model": "t/yolos"}


@pytest.fixture(scope="module")
def store(public_dir):
    root = public_dir / "media-store"
    media.wav2vec2_ctc(root / "t" / "asr")
    media.wav2vec2_classifier(root / "t" / "audio-cls")
    media.vit_classifier(root / "t" / "vit")
    media.yolos_detector(root / "t" / "yolos")
    root.chmod(0o755)
    (root / "t").chmod(0o755)
    return root


@pytest.fixture(scope="module")
def mconn(server, store):
    with connect_with_store(server, store) as c:
        yield c


def transform(conn, task, args, inputs):
    return conn.execute("SELECT pgml.transform(task => %s::jsonb, args => %s::jsonb, inputs => %s::bytea[])",
                        (json.dumps(task), json.dumps(args), inputs)).fetchone()[0]


def assert_classes(result, labels, count):
    """One list of {"label", "score"} per input, best first."""
    assert isinstance(result, list) and len(result) == count
    for ranked in result:
        assert ranked and all(set(r) == {"label", "score"} and r["label"] in labels and 0 <= r["score"] <= 1
                              for r in ranked)
        assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)


def same_classes(a, b):
    """Equal rankings: the same labels in order, scores equal up to float noise."""
    return ([r["label"] for r in a] == [r["label"] for r in b]
            and [r["score"] for r in a] == pytest.approx([r["score"] for r in b], abs=1e-5))


def test_speech_recognition(server, store, mconn):
    inputs = [media.wav_bytes(frequency=440), media.flac_bytes(seconds=0.3, frequency=880)]
    out = transform(mconn, ASR, {}, inputs)
    assert isinstance(out, list) and len(out) == 2
    assert all(set(r) == {"text"} and isinstance(r["text"], str) for r in out)
    assert transform(mconn, ASR, {}, inputs) == out
    with connect_with_store(server, store) as fresh:  # a new backend loads the model again: same text
        assert transform(fresh, ASR, {}, inputs) == out
    assert transform(mconn, ASR, {}, inputs[1:]) == out[1:]


def test_audio_classification_batch_keeps_order(mconn):
    low, high = media.wav_bytes(frequency=220), media.wav_bytes(frequency=3000, seconds=0.8)
    out = transform(mconn, AUDIO_CLS, {}, [low, high])
    assert_classes(out, AUDIO_LABELS, 2)
    assert {r["label"] for r in out[0]} == AUDIO_LABELS  # top_k 5 > 3 labels: all of them
    assert sum(r["score"] for r in out[0]) == pytest.approx(1.0, abs=1e-4)
    assert transform(mconn, AUDIO_CLS, {}, [low, high]) == out
    reversed_out = transform(mconn, AUDIO_CLS, {}, [high, low])
    assert same_classes(reversed_out[0], out[1]) and same_classes(reversed_out[1], out[0])
    assert transform(mconn, AUDIO_CLS, {"top_k": 1}, [low])[0] == [out[0][0]]


def test_stereo_and_float_wav_are_read(mconn):
    """Stereo is averaged to mono: identical channels give the mono file's result."""
    mono = transform(mconn, AUDIO_CLS, {}, [media.wav_bytes(frequency=440, subtype="FLOAT")])
    stereo = transform(mconn, AUDIO_CLS, {}, [media.wav_bytes(frequency=440, channels=2, subtype="FLOAT")])
    assert_classes(stereo, AUDIO_LABELS, 1)
    assert same_classes(stereo[0], mono[0])


def test_other_sampling_rates_are_resampled(mconn):
    at_16k = transform(mconn, AUDIO_CLS, {}, [media.wav_bytes(frequency=440)])
    at_8k = transform(mconn, AUDIO_CLS, {}, [media.wav_bytes(frequency=440, sampling_rate=8000)])
    assert_classes(at_8k, AUDIO_LABELS, 1)
    assert [r["label"] for r in at_8k[0]] == [r["label"] for r in at_16k[0]]


def test_image_classification_png_and_jpeg(mconn):
    inputs = [media.png_bytes(), media.jpeg_bytes(size=(64, 48))]
    out = transform(mconn, IMAGE_CLS, {}, inputs)
    assert_classes(out, IMAGE_LABELS, 2)
    assert {r["label"] for r in out[1]} == IMAGE_LABELS
    assert transform(mconn, IMAGE_CLS, {}, inputs) == out
    assert transform(mconn, IMAGE_CLS, {}, inputs[::-1]) == out[::-1]
    top = transform(mconn, IMAGE_CLS, {"top_k": 2}, inputs[:1])
    assert len(top) == 1 and top[0] == out[0][:2]


def test_image_modes_are_converted_to_rgb(mconn):
    out = transform(mconn, IMAGE_CLS, {}, [media.png_bytes(mode="RGBA"), media.png_bytes(mode="L"),
                                          media.png_bytes(mode="P")])
    assert_classes(out, IMAGE_LABELS, 3)


def test_task_as_json_text(mconn):
    out = mconn.execute("SELECT pgml.transform(%s, inputs => %s::bytea[])",
                        (json.dumps(IMAGE_CLS), [media.png_bytes()])).fetchone()[0]
    assert out == transform(mconn, IMAGE_CLS, {}, [media.png_bytes()])


def test_object_detection(mconn):
    out = transform(mconn, DETECTION, {"threshold": 0.0}, [media.png_bytes(), media.jpeg_bytes()])
    assert isinstance(out, list) and len(out) == 2
    for boxes in out:
        assert boxes and all(set(b) == {"score", "label", "box"} and b["label"] in {"cat", "dog"} for b in boxes)
        assert all(set(b["box"]) == {"xmin", "ymin", "xmax", "ymax"} for b in boxes)
    assert transform(mconn, DETECTION, {"threshold": 0.0}, [media.png_bytes(), media.jpeg_bytes()]) == out


@pytest.mark.parametrize("task,inputs,sqlstate,text", [
    (AUDIO_CLS, [media.wav_bytes(), b"hello"], "22023", "input 2 is not audio"),
    (ASR, [b"hello"], "22023", "WAV, FLAC"),
    (IMAGE_CLS, [b"hello"], "22023", "input 1 is not an image"),
    (IMAGE_CLS, [media.png_bytes(), media.png_bytes()[:60]], "22023", "input 2 is not an image"),
    (IMAGE_CLS, [media.wav_bytes()], "22023", "PNG, JPEG"),
    (AUDIO_CLS, [media.png_bytes()], "22023", "input 1 is not audio"),
    (AUDIO_CLS, [media.wav_bytes(seconds=0)], "22023", "no samples"),
    ({"task": "text-classification", "model": "t/vit"}, [b"hello"], "22023", "does not take BYTEA[] inputs"),
    ({"task": "sentiment-analysis"}, [media.png_bytes()], "22023", "does not take BYTEA[] inputs"),
    (IMAGE_CLS, [], "22023", "inputs must not be empty"),
])
def test_bad_input(mconn, expect_error, task, inputs, sqlstate, text):
    error = expect_error(mconn, "SELECT pgml.transform(%s::jsonb, '{}', %s::bytea[])", (json.dumps(task), inputs))
    assert error.sqlstate == sqlstate, str(error)
    assert text in error.diag.message_primary
    assert error.diag.message_hint


def test_null_element(mconn, expect_error):
    error = expect_error(mconn, "SELECT pgml.transform(%s::jsonb, '{}', %s::bytea[])",
                         (json.dumps(IMAGE_CLS), [media.png_bytes(), None]))
    assert error.sqlstate == "22004" and "input 2 is NULL" in error.diag.message_primary
