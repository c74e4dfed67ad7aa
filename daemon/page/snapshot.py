"""The page's content, read from the ledger (its own read-only connection) and the post's
own files beside its record: thumbnails, caption, content warning, alt texts. Blocking."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from daemon.config import ApplicationConfig
from daemon.events import InboxWaiting
from daemon.frontmatter import FrontMatterError, parse_caption
from daemon.inbox import IMAGE_SUFFIXES
from daemon.ledger import Delivery, Ledger, PostRow, ledger_path
from daemon.page.badges import failed_reason, post_badges
from daemon.page.model import FailedView, PageModel, Picture, PostView, WaitingView, local_time
from daemon.page.thumbnails import remove_unshown, thumbnail
from daemon.post import PostRejectedError, decode_caption

TITLE = "dropcast"
Entry = tuple[PostRow, dict[str, Delivery]]


@dataclass(frozen=True)
class CaptionText:
    """What a caption file says, as the page shows it."""

    body: str
    content_warning: str | None = None
    alt: tuple[str, ...] = ()


def read_page(config: ApplicationConfig, inbox: InboxWaiting | None) -> PageModel:
    """Everything the page shows now; thumbnails missing from its folder are made."""
    entries = read_ledger(ledger_path(config.core.state), config.core.page.max_posts)
    reader = _PostReader(config)
    posts = tuple(reader.view(row, deliveries) for row, deliveries in entries)
    remove_unshown(config.core.page.folder, {row.id for row, _ in entries})
    return PageModel(
        title=TITLE,
        written_at=time.time(),
        posts=posts,
        failed=tuple(failed_posts(config, entries)),
        waiting=tuple(WaitingView(w.name, w.reason, w.since) for w in inbox.waiting)
        if inbox
        else (),
        inbox_posts=None if inbox is None else inbox.posts,
    )


def read_ledger(path: Path, limit: int) -> list[Entry]:
    """The `limit` newest posts with their deliveries; none if there is no ledger yet."""
    if not path.exists():
        return []
    ledger = Ledger.read_only(path)
    try:
        rows = ledger.recent(limit)
        entries = [(row, ledger.deliveries(row.id)) for row in rows]
        earlier = {row.duplicate_of for row in rows if row.duplicate_of is not None}
        stems = {post_id: ledger.post(post_id).stem for post_id in earlier}
    finally:
        ledger.close()
    return [(_with_earlier_stem(row, stems), deliveries) for row, deliveries in entries]


def _with_earlier_stem(row: PostRow, stems: Mapping[int, str]) -> PostRow:
    """A duplicate's error says what it duplicates (the ledger keeps only the earlier id)."""
    if row.duplicate_of is None or row.error:
        return row
    earlier = stems.get(row.duplicate_of, f"post {row.duplicate_of}")
    return replace(row, error=f"the same image and caption as {earlier}, published before")


def post_files(row: PostRow) -> tuple[Path, ...]:
    """Where the post's files are: where they were filed, else in the inbox."""
    if row.filing is None or row.filed_at is None:
        return row.files
    return tuple(Path(target) for _, target in row.filing["moves"])


def failed_posts(config: ApplicationConfig, entries: Sequence[Entry]) -> list[FailedView]:
    """Posts in `failed/` (still there: one moved back into the inbox is not), what to do."""
    inbox = config.core.inbox.name
    found = []
    for row, deliveries in entries:
        files = post_files(row)
        if row.outcome != "failed" or row.filed_at is None or not any(f.exists() for f in files):
            continue
        names = ", ".join(f.name for f in files)
        to_do = f"fix it, then move {names} back into {inbox}/"
        found.append(FailedView(row.id, _name(row), failed_reason(row, deliveries.values()), to_do))
    return found


class _PostReader:
    """Each post's view: its files read, its thumbnails made, its badges chosen."""

    def __init__(self, config: ApplicationConfig) -> None:
        self.config = config
        self.folder = config.core.page.folder
        self.platforms = {name: s.enabled for name, s in config.platforms.items()}

    def view(self, row: PostRow, deliveries: dict[str, Delivery]) -> PostView:
        files = post_files(row)
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        caption = self.caption(
            next((f for f in files if f.suffix.lower() == ".txt"), None), len(images)
        )
        pictures = tuple(
            Picture(image.name, thumbnail(self.folder, row.id, number, image), alt)
            for number, (image, alt) in enumerate(_with_alt(images, caption.alt), start=1)
        )
        return PostView(
            id=row.id,
            name=_name(row),
            dropped_as=row.stem,
            place=self._place(row, files),
            outcome=_outcome(row),
            note=self._note(row),
            seen_at=row.created_at,
            caption=caption.body,
            content_warning=caption.content_warning,
            pictures=pictures,
            badges=post_badges(row, deliveries, self.platforms),
        )

    def caption(self, path: Path | None, images: int) -> CaptionText:
        """The caption's body, warning and alt texts; a problem is shown, never raised."""
        if path is None:
            return CaptionText("")
        try:
            text = decode_caption(path.name, path.read_bytes())
        except FileNotFoundError:
            return CaptionText(f"(the caption file {path.name} is gone)")
        except (OSError, PostRejectedError) as error:
            return CaptionText(f"(the caption cannot be read: {error})")
        return self._parsed(text, images)

    def _parsed(self, text: str, images: int) -> CaptionText:
        try:
            caption = parse_caption(text)
            warning = caption.overrides.warning_in_force(self.config.core.default_content_warning)
            alt = caption.overrides.alt_texts(images)
        except FrontMatterError:
            return CaptionText(text)
        return CaptionText(caption.body, None if warning is None else warning.describe(), alt)

    def _place(self, row: PostRow, files: Sequence[Path]) -> str:
        folder = Path(row.filing["destination"]) if row.filed_at and row.filing else None
        if folder is None:
            folder = files[0].parent if files else self.config.core.inbox
        try:
            return str(folder.relative_to(self.config.path.parent))
        except ValueError:
            return str(folder)

    def _note(self, row: PostRow) -> str:
        if row.decided:
            return row.error or ""
        if row.next_attempt_at is None:
            return "being published" if row.attempts == 0 else ""
        limit = self.config.core.max_attempts
        return f"attempt {row.attempts} of {limit} failed; next {local_time(row.next_attempt_at)}"


def _name(row: PostRow) -> str:
    """The archived name (`party-1`: two posts named party are told apart), else its own."""
    return str(row.filing["stem"]) if row.filing else row.stem


def _outcome(row: PostRow) -> str:
    if row.outcome:
        return row.outcome
    return "retrying" if row.next_attempt_at is not None else "in the inbox"


def _with_alt(images: Sequence[Path], alt: Sequence[str]) -> list[tuple[Path, str]]:
    return [(image, alt[i] if i < len(alt) else "") for i, image in enumerate(images)]
