"""Why a video could not be read, in words a user can act on: the stage that failed, the exception, the decoder, the
codec and profile, and what to try next.

A sample's video goes through four stages (sources.ClipSource.video): reading the file and the packets its frames
need, remuxing those packets into one stream in memory (packets.py), decoding them (PyAV in the source, or DALI's
decoders in the graph), and finding every wanted frame. A failure at each stage means something different, so
the bad-video report says which one it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from dali_pipelines import storage

STAGES = ("reading", "remuxing", "decoding", "frame missing")
PREPARE = "python -m cvrl_pl.data.prepare SRC DST --short-side 256 --codec vp9"


class FrameOutOfRange(ValueError):
    """A wanted frame the file does not hold: it changed since it was indexed, or the index is wrong."""


class FileChanged(RuntimeError):
    """A file whose size or mtime is not what indexing saw: its frames may be others."""


class RemuxError(RuntimeError):
    """Writing packets already read into the in-memory stream failed: no decoder ran, and the picture does not
    matter, so the cause (``__cause__``) is the reader's or the codec's, not one video's damage."""


@dataclass(frozen=True)
class ReadFailure:
    """One video's failure, as bad_videos.jsonl records it."""

    path: str  # the video's reference as text: a path, a URL, "<shard>:<member>"
    stage: str  # one of STAGES
    error: str  # the exception's type
    message: str  # its first line: the decoder's own words
    decoder: str  # the pipeline's decoder: "pyav (libdav1d)", "dali_cpu" or "nvdec"
    codec: str  # codec and profile from the index: "av1 Main"; "unknown" where the table has none

    @property
    def before_decoding(self) -> bool:
        """Raised on packets already read, before the decoder got a byte: remuxing needs no decoder and depends on
        the codec, not the picture, so the same failure on many videos of a codec is the reader's fault."""
        return self.stage == "remuxing"

    def next_step(self) -> str:
        """What the user can try."""
        if self.stage == "reading":
            return "check that the file is still there and readable; if it was replaced on purpose, index again"
        if self.stage == "frame missing":
            return "the file holds fewer frames than the index counted (cut short or replaced): index it again"
        if self.stage == "remuxing":
            return (
                f"if other {self.codec} videos fail the same way this is a cvrl-pl bug: report it with this line and "
                f"the output of python -m cvrl_pl.tools.read_clip {self.path} --frames 0 --out x.npy; for this file, "
                f"re-encode it with {PREPARE}"
            )
        if self.decoder.startswith("pyav"):
            return f"the file is damaged: re-encode it from its source with {PREPARE}, or leave it out"
        return f"try data.decoder=pyav; if PyAV fails too the file is damaged: re-encode it with {PREPARE}"

    def reason(self) -> str:
        """One line with everything: stage, exception, decoder, codec, next step."""
        return (
            f"{self.stage} failed: {self.error}: {self.message} [decoder {self.decoder}, codec {self.codec}]; "
            f"next: {self.next_step()}"
        )

    def record(self) -> dict:
        """The fields for bad_videos.jsonl: each on its own, and the whole line as ``reason``."""
        return {**asdict(self), "next_step": self.next_step(), "reason": self.reason()}

    def signature(self) -> tuple[str, ...]:
        """What two videos failing the same way share: the stage, the exception and its words (the path taken out),
        the decoder and the codec."""
        message = self.message.replace(self.path, "<video>")
        return self.stage, self.error, message, self.decoder, self.codec


class VideoReadError(RuntimeError):
    """A video that could not be read, carrying its :class:`ReadFailure`."""

    def __init__(self, failure: ReadFailure):
        super().__init__(f"{failure.path}: {failure.reason()}")
        self.failure = failure


def first_line(exc: BaseException) -> str:
    """An exception's first line, or its type when it has no words."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def libav_decoder(video: storage.Ref) -> str:
    """The name of the FFmpeg decoder PyAV opens for a file's video stream ("libdav1d" for AV1, "h264", ...); ""
    if the file does not open. Asked only after a failure, to name it."""
    import av  # imported here: the graphs' modules load without PyAV

    try:
        with storage.opened(video) as file, av.open(file) as container:
            return container.streams.video[0].codec_context.name
    except Exception:  # noqa: BLE001 (naming a decoder must not hide the failure being reported)
        return ""


@contextmanager
def stage(name: str, *, path: storage.Ref, decoder: str, codec: str) -> Iterator[None]:
    """Any exception in the block becomes a VideoReadError of stage ``name``, or "frame missing" (FrameOutOfRange),
    or "remuxing" (RemuxError, named by its cause); past reading, a PyAV decoder is named by the FFmpeg decoder it
    opens for the file."""
    try:
        yield
    except VideoReadError:
        raise
    except Exception as exc:
        found = {FrameOutOfRange: "frame missing", RemuxError: "remuxing"}.get(type(exc), name)
        cause = exc.__cause__ if isinstance(exc, RemuxError) and exc.__cause__ is not None else exc
        if decoder == "pyav" and found != "reading" and (libav := libav_decoder(path)):
            decoder = f"pyav ({libav})"
        failure = ReadFailure(str(path), found, type(cause).__name__, first_line(cause), decoder, codec)
        raise VideoReadError(failure) from exc
