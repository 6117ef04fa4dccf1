"""A tiny, randomly initialised CTranslate2 Whisper model, built at test time with no download.

The folder it writes is laid out exactly like a converted faster-whisper model
(`model.bin`, `config.json`, `vocabulary.json`, `tokenizer.json`, `preprocessor_config.json`),
so it exercises the real loading and decoding path of faster-whisper and CTranslate2:

    folder = build_tiny_whisper(tmp / "whisper" / "tiny-test")
    WhisperModel(str(folder), device="cpu", local_files_only=True)

Whisper's geometry and token layout are real: 80 mel bins, a 1500-frame audio context, a
448-token text context; text tokens, `<|endoftext|>`, `<|startoftranscript|>`, one token per
language (100, as in large-v3), `<|translate|>` `<|transcribe|>` `<|startoflm|>`
`<|startofprev|>` `<|nospeech|>` `<|notimestamps|>`, then `<|0.00|>` ... `<|30.00|>`. The text
tokens are the 256 bytes of a byte-level BPE plus a few merges (a space and a letter).

The weights are random (seeded), so the transcript is gibberish. The output layer's bias plays
the part of training (see `_output_bias`), so greedy decoding gives Whisper-shaped output:
timestamped segments of letters starting within the first seconds of each window.

CTranslate2 decides from the vocabulary alone whether a Whisper model is multilingual: it is
when the vocabulary holds the empty-string token (the multilingual vocabulary has one, the
English-only one does not). `multilingual=False` leaves it out; CTranslate2 then ignores the
language tokens and faster-whisper always transcribes English.

Building takes a few tens of milliseconds; the model folder is about 2.8 MB.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from string import ascii_lowercase
from typing import Any

import numpy as np
import numpy.typing as npt
from ctranslate2.specs import whisper_spec
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

# Whisper's language tokens, in the order of its vocabulary (large-v3 adds "yue" last).
_LANGUAGE_CODES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su yue"
)
WHISPER_LANGUAGES = tuple(_LANGUAGE_CODES.split())

# The special tokens between the language tokens and <|notimestamps|>, in vocabulary order.
TASK_TOKENS = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>")
NO_SPEECH = "<|nospeech|>"
NO_TIMESTAMPS = "<|notimestamps|>"
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|> in steps of 0.02 s

# Whisper's fixed geometry: 30 s windows of 80 mel bins at 100 frames/s, halved by conv2.
N_MELS = 80
N_AUDIO_CTX = 1500
N_TEXT_CTX = 448

FloatArray = npt.NDArray[np.float32]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (what ByteLevel BPE works on)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _merges() -> list[tuple[str, str]]:
    """BPE merges: a space joined to each letter (words), and the pairs faster-whisper expects.

    faster-whisper suppresses the first token of " -", " '" and " ♪" (which starts with byte
    0xE2, "â"); as in GPT-2 those must be single merged tokens, or it would suppress the space.
    """
    space = _bytes_to_unicode()[ord(" ")]
    return [(space, ch) for ch in ascii_lowercase + "-'" + _bytes_to_unicode()[0xE2]]


def whisper_vocabulary(*, multilingual: bool) -> list[str]:
    """All tokens in id order: text tokens, ("" if multilingual), specials, timestamps."""
    byte_chars = _bytes_to_unicode()
    tokens = [byte_chars[b] for b in range(256)] + [a + b for a, b in _merges()]
    if multilingual:
        tokens.append("")  # CTranslate2's multilingual marker (see the module docstring)
    tokens += ["<|endoftext|>", "<|startoftranscript|>"]
    tokens += [f"<|{code}|>" for code in WHISPER_LANGUAGES]
    tokens += [*TASK_TOKENS, NO_SPEECH, NO_TIMESTAMPS]
    tokens += [f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)]
    return tokens


def _tokenizer(vocabulary: list[str]) -> Tokenizer:
    """A byte-level BPE tokenizer with the same ids as `vocabulary`."""
    eot = vocabulary.index("<|endoftext|>")
    text_vocab = {token: i for i, token in enumerate(vocabulary[:eot])}
    tokenizer = Tokenizer(models.BPE(vocab=text_vocab, merges=_merges()))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # Added in id order, they take exactly the ids that follow the text vocabulary.
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in vocabulary[eot:]]
    )
    for i, token in enumerate(vocabulary[eot:], start=eot):
        if tokenizer.token_to_id(token) != i:
            raise AssertionError(f"tokenizer id of {token} is not {i}")
    return tokenizer


def _output_bias(vocabulary: list[str]) -> FloatArray:
    """The decoder's output bias: what training would have taught about the token layout.

    Letters and spaced letters are likely, every other text byte and every control token
    (start of transcript, languages, tasks, <|nospeech|>) unlikely, <|endoftext|> a little
    below letters, and timestamps less likely the later they are. Greedy decoding of the random
    model then gives Whisper-shaped output (<|0.00|> letters <|0.16|><|0.16|> letters ...)
    with timestamps within the first seconds, instead of control tokens or jumps to 30 s.
    """
    byte_chars = _bytes_to_unicode()
    space = byte_chars[ord(" ")]
    bias = np.full(len(vocabulary), -10.0, dtype=np.float32)
    for i, token in enumerate(vocabulary[: vocabulary.index("<|endoftext|>")]):
        if token in ascii_lowercase:
            bias[i] = 0.0
        elif len(token) == 2 and token[0] == space and token[1] in ascii_lowercase:
            bias[i] = 0.2
    bias[vocabulary.index("<|endoftext|>")] = -1.0
    first_timestamp = vocabulary.index(NO_TIMESTAMPS) + 1
    bias[first_timestamp:] = -2.5 - 0.02 * np.arange(N_TIMESTAMPS, dtype=np.float32)
    return bias


def _sinusoids(length: int, channels: int) -> FloatArray:
    """Whisper's fixed sinusoidal position embedding of the audio encoder."""
    log_timescale_increment = math.log(10000) / (channels // 2 - 1)
    inv_timescales = np.exp(-log_timescale_increment * np.arange(channels // 2))
    scaled_time = np.arange(length)[:, None] * inv_timescales[None, :]
    return np.concatenate([np.sin(scaled_time), np.cos(scaled_time)], axis=1).astype(np.float32)


class _Weights:
    """Seeded random tensors, scaled like a freshly initialised transformer."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def normal(self, *shape: int, std: float = 0.02) -> FloatArray:
        return (self._rng.standard_normal(shape) * std).astype(np.float32)

    def linear(self, spec: Any, d_out: int, d_in: int) -> None:
        spec.weight = self.normal(d_out, d_in, std=1.0 / math.sqrt(d_in))
        spec.bias = np.zeros(d_out, dtype=np.float32)

    @staticmethod
    def layer_norm(spec: Any, d_model: int) -> None:
        spec.gamma = np.ones(d_model, dtype=np.float32)
        spec.beta = np.zeros(d_model, dtype=np.float32)

    def attention(self, spec: Any, d_model: int, *, self_attention: bool) -> None:
        self.layer_norm(spec.layer_norm, d_model)
        if self_attention:
            self.linear(spec.linear[0], 3 * d_model, d_model)  # fused q, k, v
        else:
            self.linear(spec.linear[0], d_model, d_model)  # q from the decoder
            self.linear(spec.linear[1], 2 * d_model, d_model)  # fused k, v from the encoder
        self.linear(spec.linear[-1], d_model, d_model)

    def ffn(self, spec: Any, d_model: int, d_ffn: int) -> None:
        self.layer_norm(spec.layer_norm, d_model)
        self.linear(spec.linear_0, d_ffn, d_model)
        self.linear(spec.linear_1, d_model, d_ffn)


def _model_spec(vocabulary: list[str], *, layers: int, d_model: int, heads: int, seed: int) -> Any:
    """A WhisperSpec with every variable set, shaped like openai/whisper's checkpoints."""
    spec = whisper_spec.WhisperSpec(layers, heads, layers, heads)
    w = _Weights(seed)
    d_ffn = 4 * d_model

    encoder = spec.encoder
    encoder.conv1.weight = w.normal(d_model, N_MELS, 3, std=1.0 / math.sqrt(3 * N_MELS))
    encoder.conv1.bias = np.zeros(d_model, dtype=np.float32)
    encoder.conv2.weight = w.normal(d_model, d_model, 3, std=1.0 / math.sqrt(3 * d_model))
    encoder.conv2.bias = np.zeros(d_model, dtype=np.float32)
    encoder.position_encodings.encodings = _sinusoids(N_AUDIO_CTX, d_model)
    w.layer_norm(encoder.layer_norm, d_model)
    for layer in encoder.layer:
        w.attention(layer.self_attention, d_model, self_attention=True)
        w.ffn(layer.ffn, d_model, d_ffn)

    decoder = spec.decoder
    decoder.embeddings.weight = w.normal(len(vocabulary), d_model)
    decoder.position_encodings.encodings = w.normal(N_TEXT_CTX, d_model, std=0.01)
    w.layer_norm(decoder.layer_norm, d_model)
    # Untied from the embeddings (unlike Whisper) so the output can carry a bias.
    decoder.projection.weight = w.normal(len(vocabulary), d_model)
    decoder.projection.bias = _output_bias(vocabulary)
    for layer in decoder.layer:
        w.attention(layer.self_attention, d_model, self_attention=True)
        w.attention(layer.attention, d_model, self_attention=False)
        w.ffn(layer.ffn, d_model, d_ffn)
    return spec


def _preprocessor_config() -> dict[str, Any]:
    """What faster-whisper reads from preprocessor_config.json (Whisper's 80-bin front end)."""
    return {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": N_MELS,
        "sampling_rate": 16000,
        "hop_length": 160,
        "chunk_length": 30,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
    }


def build_tiny_whisper(
    folder: Path,
    *,
    multilingual: bool = True,
    seed: int = 0,
    layers: int = 2,
    d_model: int = 64,
    heads: int = 4,
) -> Path:
    """Writes a tiny CTranslate2 Whisper model into `folder` (created; must be empty or new).

    Deterministic for a given `seed`; takes well under a second. Returns `folder`.
    """
    if d_model % heads:
        raise ValueError("d_model must be a multiple of heads")
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")

    vocabulary = whisper_vocabulary(multilingual=multilingual)
    spec = _model_spec(vocabulary, layers=layers, d_model=d_model, heads=heads, seed=seed)
    eot = vocabulary.index("<|endoftext|>")
    lang_ids = [vocabulary.index(f"<|{code}|>") for code in WHISPER_LANGUAGES]
    config = spec.config
    config.suppress_ids = []
    config.suppress_ids_begin = [vocabulary.index(_bytes_to_unicode()[ord(" ")]), eot]
    config.lang_ids = lang_ids if multilingual else []
    # Word timestamps read cross-attention from the last half of the decoder layers.
    config.alignment_heads = [[i, h] for i in range(layers // 2, layers) for h in range(heads)]
    spec.register_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization="float32")
    spec.save(str(folder))

    _tokenizer(vocabulary).save(str(folder / "tokenizer.json"))
    (folder / "preprocessor_config.json").write_text(
        json.dumps(_preprocessor_config(), indent=2) + "\n", encoding="utf-8"
    )
    return folder
