"""BYTEA[] inputs of pgml.transform: audio and image files decoded into what the Hugging Face
pipelines take. Decoding is left to maintained libraries (libsndfile through soundfile, and
Pillow): files come from users, and parsers of our own would be a source of bugs.
"""
import io

from .. import errors

AUDIO_TASKS = ("automatic-speech-recognition", "audio-classification", "zero-shot-audio-classification")
IMAGE_TASKS = ("image-classification", "object-detection", "image-segmentation",
               "zero-shot-image-classification", "image-text-to-text", "depth-estimation",
               "image-feature-extraction")
# Named in errors; soundfile.available_formats() and PIL.Image.OPEN list them all.
AUDIO_FORMATS = "WAV, FLAC, OGG (Vorbis, Opus), MP3, AIFF"
IMAGE_FORMATS = "PNG, JPEG, GIF, BMP, TIFF, WebP"


def decode(task_name, items):
    """One pipeline input per file: {"raw": float32 mono array, "sampling_rate": int} for an
    audio task (the rate is the file's own; see for_pipeline), an RGB PIL image for an image
    task. Files are checked here, before a model is loaded, so bad input fails fast."""
    if task_name in AUDIO_TASKS:
        read = _audio_reader()
    elif task_name in IMAGE_TASKS:
        read = _image_reader()
    else:
        raise errors.InvalidParameter(
            'task "%s" does not take BYTEA[] inputs: only audio and image tasks do' % task_name,
            detail="Audio tasks: %s. Image tasks: %s." % (", ".join(AUDIO_TASKS), ", ".join(IMAGE_TASKS)),
            hint="Pass TEXT[] inputs to this task, or BYTEA[] files to an audio or image task.")
    decoded = []
    for position, data in enumerate(items, 1):
        if data is None:
            raise errors.NullValueNotAllowed("input %d is NULL" % position,
                                             hint="Remove NULL elements from inputs.")
        decoded.append(read(bytes(data), position))
    return decoded


def _audio_reader():
    try:
        import numpy as np
        import soundfile
    except (ImportError, OSError) as e:  # OSError: a soundfile without its bundled libsndfile
        raise errors.MissingDependency("audio inputs need the soundfile package, which is not installed",
                                       detail=str(e), hint="Run make install: soundfile is in requirements.txt.")

    def read(data, position):
        buffer = io.BytesIO(data)
        try:
            samples, rate = soundfile.read(buffer, dtype="float32", always_2d=True)
        except (soundfile.SoundFileError, RuntimeError, ValueError, TypeError) as e:
            raise errors.InvalidParameter(
                "input %d is not audio in a format soundfile reads (%s)" % (position, AUDIO_FORMATS),
                detail="libsndfile: %s" % _reason(e, buffer),
                hint="Pass the file's bytes, e.g. pg_read_binary_file('speech.wav'); "
                     "convert other formats (AAC, M4A, WMA) to WAV or FLAC first.")
        if samples.shape[0] == 0:
            raise errors.InvalidParameter("input %d is an audio file with no samples" % position,
                                          hint="Pass a recording at least a fraction of a second long.")
        # Models take one channel: average the channels (samples is frames x channels).
        mono = np.ascontiguousarray(samples.mean(axis=1, dtype=np.float32))
        return {"raw": mono, "sampling_rate": int(rate)}
    return read


def _image_reader():
    try:
        import struct

        from PIL import Image, ImageOps
    except ImportError as e:
        raise errors.MissingDependency("image inputs need the pillow package, which is not installed",
                                       detail=str(e), hint="Run make install: pillow is in requirements.txt.")
    failures = (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError)

    def read(data, position):
        buffer = io.BytesIO(data)
        try:
            with Image.open(buffer) as image:
                # Photos store their rotation in EXIF: apply it so the model sees them upright.
                return ImageOps.exif_transpose(image).convert("RGB")
        except failures as e:
            raise errors.InvalidParameter(
                "input %d is not an image in a format Pillow reads (%s)" % (position, IMAGE_FORMATS),
                detail="Pillow: %s" % _reason(e, buffer),
                hint="Pass the file's bytes, e.g. pg_read_binary_file('photo.png'), in one of those formats.")
    return read


def _reason(error, buffer):
    """The library's reason, without the buffer's repr (a memory address) it may quote."""
    text = str(getattr(error, "error_string", None) or error)
    return text.replace(" " + repr(buffer), "").replace(repr(buffer), "the input")


def for_pipeline(task_name, decoded, pipe):
    """Audio resampled to the rate of the model's feature extractor. The pipelines resample
    only with torchaudio, which has no release for our torch; scipy's polyphase filter does it
    here instead. zero-shot-audio-classification takes plain arrays, not dicts."""
    if task_name not in AUDIO_TASKS:
        return decoded
    rate = getattr(getattr(pipe, "feature_extractor", None), "sampling_rate", None)
    if not rate:
        return decoded
    fitted = []
    for item in decoded:
        raw = resample(item["raw"], item["sampling_rate"], int(rate))
        fitted.append(raw if task_name == "zero-shot-audio-classification" else {"raw": raw, "sampling_rate": int(rate)})
    return fitted


def resample(samples, rate, target):
    """samples (float32 mono) at rate, as float32 at target."""
    if rate == target:
        return samples
    import math

    import numpy as np
    from scipy.signal import resample_poly
    common = math.gcd(rate, target)
    return resample_poly(samples, target // common, rate // common).astype(np.float32)


def image_json(value):
    """A PIL image in pipeline output (segmentation masks, depth maps) as a PNG data URI, so it
    fits in JSONB; None for anything else."""
    try:
        from PIL import Image
    except ImportError:
        return None
    if not isinstance(value, Image.Image):
        return None
    import base64
    buffer = io.BytesIO()
    value.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
