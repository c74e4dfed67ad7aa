"""`BlueskyPublisher`: each post as a Bluesky post, or a thread of them, on one account.

Each part of the thread (`thread.plan_thread`) is a destination in the ledger. Its record
key is chosen first and stored with the part (its remote id, the at:// URI, marked
`pending` right before the record is created), so a part whose answer was lost is looked up
by that key before anything is sent again; a resumed thread replies to the last part there.
The atproto SDK is imported on first use: a disabled platform costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from daemon.post import Post
from daemon.progress import Destination, Destinations, DestinationState
from daemon.publisher import Publisher, PublisherContext, PublishResult
from daemon.publishers.bluesky import errors
from daemon.publishers.bluesky.media import Blob, ImageTooLargeError, prepare_image
from daemon.publishers.bluesky.records import (
    POST,
    Image,
    Ref,
    new_tid,
    post_record,
    post_uri,
    split_uri,
    web_url,
)
from daemon.publishers.bluesky.session import BlueskySession
from daemon.publishers.bluesky.settings import BlueskySettings
from daemon.publishers.bluesky.text import rich_text
from daemon.publishers.bluesky.thread import Part, plan_thread, thread_notes
from daemon.retry import GaveUpError, RetryAfter

if TYPE_CHECKING:
    from atproto_client import AsyncClient

log = structlog.get_logger("dropcast.bluesky")


@dataclass
class _Thread:
    """One attempt at one post's thread: where it stands, and what to tell the owner."""

    post: Post
    parts: list[Part]
    destinations: Destinations
    known: dict[str, Destination]
    root: Ref | None = None
    parent: Ref | None = None
    attempts: int = 1
    notes: list[str] = field(default_factory=list)

    def reply_to(self) -> tuple[Ref, Ref] | None:
        return None if self.root is None or self.parent is None else (self.root, self.parent)

    def arrived(self, ref: Ref) -> None:
        self.root, self.parent = self.root or ref, ref


class BlueskyPublisher(Publisher[BlueskySettings]):
    """Posts to one Bluesky account (any PDS) through the atproto SDK's `AsyncClient`."""

    platform_name = "bluesky"
    settings_model = BlueskySettings
    resend_after_unknown = "check"  # each part's record is looked up by its key
    tracks_destinations = True  # each part of the thread

    def __init__(self, settings: BlueskySettings, context: PublisherContext) -> None:
        super().__init__(settings, context)
        self._session = BlueskySession(settings, context.state_dir)
        self._images = anyio.CapacityLimiter(1)  # re-encoding is CPU and memory
        self._dids: dict[str, str | None] = {}  # handles mentioned, resolved

    async def publish(self, post: Post) -> PublishResult:
        caption = post.caption_for(self.platform_name)
        parts = plan_thread(caption, len(post.images))
        destinations = self.context.progress.for_post(post, self.platform_name)
        thread = _Thread(post, parts, destinations, await destinations.known())
        thread.notes += thread_notes(parts, len(post.images))
        if post.content_warning is not None and post.content_warning.text:
            thread.notes.append(
                "Bluesky shows its own words for a content warning: the spoiler text is not posted"
            )
        try:
            client = await self._client()
            for part in parts:
                await self._deliver(client, thread, part)
        except _PartFailedError as failure:
            return await self._failed(thread, failure)
        return self._result(thread)

    async def find_published(self, post: Post) -> PublishResult | None:
        """The thread if every part of it is on Bluesky (parts found are marked sent)."""
        parts = plan_thread(post.caption_for(self.platform_name), len(post.images))
        destinations = self.context.progress.for_post(post, self.platform_name)
        thread = _Thread(post, parts, destinations, await destinations.known())
        client = await self._client()
        for part in parts:
            ref = await self._already_there(client, thread, part)
            if ref is None:
                return None
            thread.arrived(ref)
        return self._result(thread)

    async def check_connection(self) -> str:
        client = await self._client()
        return f"logged in as @{self.settings.handle} ({self._session.did}) on {client._base_url}"

    async def close(self) -> None:
        await self._session.close()

    def retry_on(self, error: Exception) -> RetryAfter | None:
        """Retry what may pass (a rate limit, a server error, the network), unless the wait
        the server asked for would outlast the publish timeout."""
        decision = errors.retry_after(error)
        seconds = decision.seconds if decision is not None else None
        return None if seconds is not None and seconds > _time_left() else decision

    def scrub(self, text: str) -> str:
        """`text` without the app password or the session's tokens."""
        for secret in self._session.secrets():
            if secret:
                text = text.replace(secret, "[secret]")
        return text

    async def _client(self) -> AsyncClient:
        try:
            client, _ = await self.call(self._session.client)
        except GaveUpError as failure:
            said = f"could not log in: {self._describe(failure)}"
            raise _PartFailedError(said, None, cause=failure.error) from None
        return client

    async def _deliver(self, client: AsyncClient, thread: _Thread, part: Part) -> None:
        """Make sure `part` is on Bluesky: found there, or sent now."""
        ref = await self._already_there(client, thread, part)
        if ref is None:
            ref = await self._send(client, thread, part)
        thread.arrived(ref)

    async def _already_there(self, client: AsyncClient, thread: _Thread, part: Part) -> Ref | None:
        """`part`'s record if the server has it: sent before, or in doubt and found by its key."""
        known = thread.known.get(part.name)
        if known is None or known.remote_id is None:
            return None
        ref = await self._lookup(client, known.remote_id, part)
        if ref is None and known.accepted:
            raise _PartFailedError(
                f"{part.name} is no longer on Bluesky: the thread cannot go on", part
            )
        if ref is not None and not known.accepted:
            log.info("part.found", part=part.name, uri=ref.uri)
            await thread.destinations.sent(part.name, ref.uri, self._url(ref.uri))
        return ref

    async def _lookup(self, client: AsyncClient, uri: str, part: Part) -> Ref | None:
        """The record at `uri` (its CID), or None if the server surely has none."""
        from atproto_client import models
        from atproto_client.exceptions import BadRequestError

        repo, rkey = split_uri(uri)
        params = models.ComAtprotoRepoGetRecord.Params(repo=repo, collection=POST, rkey=rkey)

        async def get() -> Ref | None:
            try:
                found = await client.com.atproto.repo.get_record(params)
            except BadRequestError as error:
                if _error_name(error) == "RecordNotFound":
                    return None
                raise
            return Ref(found.uri, found.cid)

        try:
            ref, _ = await self.call(get)
        except GaveUpError as failure:
            said = f"could not look {part.name} up: {self._describe(failure)}"
            raise _PartFailedError(said, part, cause=failure.error) from None
        return ref

    async def _send(self, client: AsyncClient, thread: _Thread, part: Part) -> Ref:
        known = thread.known.get(part.name)
        rkey = split_uri(known.remote_id)[1] if known and known.remote_id else new_tid()
        images = await self._upload(client, thread, part)
        text = await rich_text(part.text, lambda handle: self._resolve(client, handle))
        thread.notes += [
            f"@{handle} is not a Bluesky account: left as text" for handle in text.unresolved
        ]
        record = post_record(
            text, images, thread.reply_to(), self.settings.language, thread.post.content_warning
        )
        uri = post_uri(self._session.did, rkey)
        await thread.destinations.mark([Destination(part.name, DestinationState.PENDING, uri)])
        ref = await self._create(client, thread, part, rkey, record)
        await thread.destinations.sent(part.name, ref.uri, self._url(ref.uri))
        log.info("part.sent", part=part.name, uri=ref.uri, images=len(images))
        return ref

    async def _create(
        self, client: AsyncClient, thread: _Thread, part: Part, rkey: str, record: Any
    ) -> Ref:
        """Create the record under `rkey`; a retry first looks for it, so it is made once."""
        from atproto_client import models

        did = self._session.did
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=did, collection=POST, rkey=rkey, record=record
        )
        tried = [False]

        async def create() -> Ref:
            if tried[0]:
                found = await self._lookup(client, post_uri(did, rkey), part)
                if found is not None:
                    return found
            tried[0] = True
            created = await client.com.atproto.repo.create_record(data)
            return Ref(created.uri, created.cid)

        try:
            ref, attempts = await self.call(create)
        except GaveUpError as failure:
            lost = errors.may_have_arrived(failure.error)
            said = self._describe(failure)
            raise _PartFailedError(said, part, lost=lost, cause=failure.error) from None
        thread.attempts = max(thread.attempts, attempts)
        return ref

    async def _upload(self, client: AsyncClient, thread: _Thread, part: Part) -> list[Image]:
        images = []
        for index in part.images:
            blob = await self._prepare(thread.post, index, part)
            if blob.note is not None:
                thread.notes.append(blob.note)
            try:
                uploaded = await self._upload_blob(client, blob)
            except GaveUpError as failure:
                said = f"image upload: {self._describe(failure)}"
                raise _PartFailedError(said, part, cause=failure.error) from None
            images.append(Image(blob, uploaded.blob, thread.post.alt_for(index)))
        return images

    async def _upload_blob(self, client: AsyncClient, blob: Blob) -> Any:
        """uploadBlob with the image's own type; the body goes as httpx's `content` (the
        SDK's `upload_blob` passes it as `data`, which httpx deprecates)."""
        from atproto_client import models
        from atproto_client.models.utils import get_response_model

        async def upload() -> Any:
            response = await client.invoke_procedure(
                "com.atproto.repo.uploadBlob",
                content=blob.data,
                headers={"Content-Type": blob.mime_type},
                output_encoding="application/json",
            )
            return get_response_model(response, models.ComAtprotoRepoUploadBlob.Response)

        uploaded, _ = await self.call(upload)
        return uploaded

    async def _prepare(self, post: Post, index: int, part: Part) -> Blob:
        path, limit = post.images[index], self.settings.max_image_bytes
        try:
            return await anyio.to_thread.run_sync(prepare_image, path, limit, limiter=self._images)
        except ImageTooLargeError as error:
            raise _PartFailedError(str(error), part) from None

    async def _resolve(self, client: AsyncClient, handle: str) -> str | None:
        """The DID of a mentioned handle, None if it has none (asked once per handle)."""
        from atproto_client.exceptions import BadRequestError

        if handle not in self._dids:
            try:
                found, _ = await self.call(lambda: client.resolve_handle(handle))
                self._dids[handle] = str(found.did)
            except GaveUpError as failure:
                if not isinstance(failure.error, BadRequestError):
                    raise _PartFailedError(
                        f"could not resolve @{handle}: {self._describe(failure)}", None
                    ) from None
                self._dids[handle] = None
        return self._dids[handle]

    def _url(self, uri: str) -> str:
        return web_url(self.settings.handle, split_uri(uri)[1])

    def _describe(self, failure: GaveUpError) -> str:
        said = errors.describe(failure.error)
        if failure.attempts > 1:
            said += f" (gave up after {failure.attempts} attempts)"
        return self.scrub(said)

    def _result(self, thread: _Thread) -> PublishResult:
        assert thread.root is not None
        return PublishResult(
            ok=True,
            remote_id=thread.root.uri,
            url=self._url(thread.root.uri),
            attempts=thread.attempts,
            notes=tuple(dict.fromkeys(thread.notes)),
        )

    async def _failed(self, thread: _Thread, failure: _PartFailedError) -> PublishResult:
        """Mark the part that failed (with its key, kept for the next attempt) and say how far
        the thread got."""
        if failure.unauthorized:
            await self._session.forget()  # the next attempt logs in again
        error, part = failure.error, failure.part
        if part is not None:
            known = (await thread.destinations.known()).get(part.name)
            uri = known.remote_id if known is not None else None
            state = DestinationState.UNKNOWN if failure.lost else DestinationState.REFUSED
            await thread.destinations.mark([Destination(part.name, state, uri, error=error)])
            if part.number > 1:
                error += (
                    f" (parts 1 to {part.number - 1} of {len(thread.parts)} are on Bluesky; "
                    "a retry sends only the rest)"
                )
        root = thread.root.uri if thread.root is not None else None
        return PublishResult(
            ok=False,
            remote_id=root,
            url=self._url(root) if root else None,
            error=error,
            attempts=thread.attempts,
            notes=tuple(dict.fromkeys(thread.notes)),
            unknown=failure.lost,
            needs_owner=failure.unauthorized,  # the login refused: the owner must act
        )


class _PartFailedError(Exception):
    """Raised inside `publish` when a part cannot be sent now; `lost`: it may have arrived."""

    def __init__(
        self, error: str, part: Part | None, *, lost: bool = False, cause: Exception | None = None
    ) -> None:
        super().__init__(error)
        self.error, self.part, self.lost = error, part, lost
        self.unauthorized = type(cause).__name__ == "UnauthorizedError"


def _error_name(error: Exception) -> str | None:
    content = getattr(getattr(error, "response", None), "content", None)
    return getattr(content, "error", None)


def _time_left() -> float:
    """Seconds until the publish timeout (infinite outside one)."""
    deadline = anyio.current_effective_deadline()
    return math.inf if math.isinf(deadline) else deadline - anyio.current_time()
