"""The daemon: the watcher feeds the inbox, complete posts go to the workflow, config reloads.

watcher ──batches──▶ sweep (reload config, list inbox, settle) ──posts──▶ PostWorkflow

This module is the intake (events and the periodic look), the sweep, signals, the
keep-alive (watchdog, heartbeat, status) and READY; a post's own life is `daemon.workflow`.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path

import anyio
import anyio.lowlevel
import structlog
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from daemon.config import ApplicationConfig
from daemon.events import InboxWaiting, Observers
from daemon.health import HEARTBEAT_SECONDS, heartbeat_path, write_heartbeat
from daemon.inbox import Candidate, Inbox
from daemon.ledger import AsyncLedger, Ledger, LedgerProgress, ledger_path
from daemon.lock import InboxLock, LockLostError, StateLock
from daemon.owner import owner_services
from daemon.platforms import ActivePlatforms
from daemon.post import DEFAULT_MAX_IMAGE_PIXELS, set_max_image_pixels
from daemon.registry import Registry
from daemon.reload import ConfigReloader
from daemon.stalls import is_environmental
from daemon.systemd import SystemdNotifier
from daemon.watcher import Batch, choose_polling, watch_inbox
from daemon.workflow import Later, PostWorkflow

log = structlog.get_logger("dropcast.daemon")

# Settings that choose what is watched, and how; they apply at the next start.
_RESTART_KEYS = ("inbox", "poll", "state")


class Daemon:
    """One running dropcast. `run` until `stop` (or SIGTERM/SIGINT); SIGHUP reloads the config."""

    def __init__(
        self,
        config_path: Path,
        registry: Registry,
        *,
        environ: Mapping[str, str] | None = None,
        handle_signals: bool = True,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.reloader = ConfigReloader(config_path, registry, environ)
        self.progress = LedgerProgress()  # the ledger is opened by `run`
        self.platforms = ActivePlatforms(registry, self.reloader.current, self.progress)
        self.handle_signals = handle_signals
        self.notifier = notifier or SystemdNotifier()
        core = self.config.core
        self.inbox = core.inbox  # watched from start to stop: a new one needs a restart
        self._inbox = Inbox(self.inbox, core.settle_seconds, core.orphan_warning_seconds)
        self._last_waiting = InboxWaiting()  # as last told to the observers
        self._owner_services = owner_services(self.config)  # status page, alerts, metrics
        self.observers = Observers(self._owner_services)
        self._workflow: PostWorkflow
        self._next_sweep = 0.0
        self._next_unfiled_check = 0.0
        self._stopping = False
        # anyio objects need a running event loop: `run` makes them.
        self._intake_scope: anyio.CancelScope
        self._posts_scope: anyio.CancelScope
        self._sleep: anyio.CancelScope  # the intake's wait for events, until the next look

    @property
    def config(self) -> ApplicationConfig:
        return self.platforms.config

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Watch and publish until stopped; posts in flight then get the grace period.

        Raises `InboxLockedError` if another dropcast runs on the inbox or with the state
        folder, and `LedgerError` if the ledger cannot be opened; the inbox is not touched
        then. Raises `LockLostError` after stopping if another dropcast took a lock over.
        """
        core = self.config.core
        for folder in (core.inbox, core.archive, core.failed, core.state):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock_lost: LockLostError | None = None
        # The state folder's first: a second dropcast on the same ledger then never touches the
        # inbox lock, which the running one would take for a lock lost and stop (none would run).
        with StateLock(core.state) as state_lock, InboxLock(self.inbox) as inbox_lock:
            self._locks = (inbox_lock, state_lock)
            ledger = Ledger(ledger_path(core.state))
            set_max_image_pixels(core.max_image_pixels)
            try:
                async_ledger = AsyncLedger(ledger)
                self.progress.attach(async_ledger)
                await self._serve(async_ledger, task_status)
            finally:
                ledger.close()
                set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)  # the process's bound, as before
        if self._lock_lost is not None:
            raise self._lock_lost

    def _locks_held(self) -> bool:
        """Lock files deleted by hand or by a sync tool are made again; a lock another
        dropcast took over stops this one (False), or both would post."""
        try:
            for lock in self._locks:
                repaired = lock.repair()
                if repaired is not None:
                    log.warning("lock.remade", detail=repaired)
        except LockLostError as error:
            log.error("lock.lost", error=str(error))
            self._lock_lost = error
            self.stop()
            return False
        return True

    async def _serve(self, ledger: AsyncLedger, task_status: TaskStatus[None]) -> None:
        bound = self.config.core.max_concurrent_posts
        self._workflow = PostWorkflow(ledger, self.platforms, bound, self.observers)
        self._intake_scope = anyio.CancelScope()
        self._sleep = anyio.CancelScope()  # each wait replaces it; a post may end before the first
        unknown = await ledger.run(Ledger.recover)
        if unknown:
            log.warning(
                "ledger.recovered", unknown_deliveries=unknown, see="dropcast status --failed"
            )
        await self._workflow.finish_unfiled()
        # Signals are heard until the very end: a second SIGTERM or SIGINT cuts the grace short.
        async with anyio.create_task_group() as lifetime:
            if self.handle_signals:
                await lifetime.start(self._handle_signals)
            for service in self._owner_services:
                lifetime.start_soon(service.run)
            await self._publish_until_stopped(task_status)
            lifetime.cancel_scope.cancel()
        await self.platforms.aclose()
        self.notifier.close()
        log.info("daemon.stopped")

    async def _publish_until_stopped(self, task_status: TaskStatus[None]) -> None:
        async with anyio.create_task_group() as posts:
            self._posts_scope = posts.cancel_scope
            with self._intake_scope:
                async with anyio.create_task_group() as intake:
                    await intake.start(self._intake, posts)
                    intake.start_soon(self._keep_alive)
                    log.info(
                        "daemon.started",
                        inbox=str(self.inbox),
                        platforms=self.config.enabled_platforms,
                    )
                    self.notifier.ready(self.status_line())
                    task_status.started()
            self._stopping = True
            self._workflow.stop_admitting()
            self.notifier.stopping()
            heartbeat_path(self.config.core.state).unlink(missing_ok=True)
            grace = self.config.core.shutdown_grace_seconds
            log.info("daemon.stopping", posts_in_flight=self._inbox.in_flight, grace_seconds=grace)
            posts.cancel_scope.deadline = anyio.current_time() + grace

    def stop(self) -> None:
        """Stop taking posts; `run` returns once the posts in flight are done (or out of grace)."""
        self._stopping = True
        self._workflow.stop_admitting()
        self._intake_scope.cancel()

    async def reload(self) -> None:
        """Re-read the config, as on SIGHUP: now, or once a file being written is complete."""
        self.notifier.reloading()
        await self._apply_config(await self.reloader.reload_when_complete())
        self.notifier.ready(self.status_line())

    def status_line(self) -> str:
        """One line for systemd's STATUS: what is watched, and any platform worth a mention."""
        enabled = self.config.enabled_platforms
        line = f"watching {self.inbox}, {len(enabled)} platform{'s' * (len(enabled) != 1)} enabled"
        notes = [f"{name} {note}" for name, note in self.platforms.statuses().items()]
        return "; ".join([line, *notes])

    async def _keep_alive(self) -> None:
        """From the event loop itself: systemd's watchdog, the heartbeat file, the status."""
        watchdog = self.notifier.watchdog_seconds
        interval = HEARTBEAT_SECONDS if watchdog is None else min(HEARTBEAT_SECONDS, watchdog / 2)
        next_heartbeat, last_status = 0.0, ""
        while True:
            if watchdog is not None:
                self.notifier.watchdog()
            status = self.status_line()
            if status != last_status:
                self.notifier.status(status)
                last_status = status
            if anyio.current_time() >= next_heartbeat:
                self._write_heartbeat(status)
                next_heartbeat = anyio.current_time() + HEARTBEAT_SECONDS
            await anyio.sleep(interval)

    def _write_heartbeat(self, status: str) -> None:
        try:
            write_heartbeat(self.config.core.state, status)
        except OSError as error:
            log.warning("heartbeat.write_failed", error=str(error))

    async def _intake(self, posts: TaskGroup, *, task_status: TaskStatus[None]) -> None:
        send, receive = anyio.create_memory_object_stream[Batch](max_buffer_size=64)
        async with anyio.create_task_group() as group, receive:
            group.start_soon(self._pump_events, send)
            # Let the watcher register with the kernel before the first look.
            await anyio.lowlevel.checkpoint()
            await self._sweep(Batch(), posts)
            task_status.started()
            while True:
                batch = Batch()
                with anyio.CancelScope(deadline=self._next_sweep) as self._sleep:
                    batch = await receive.receive()
                await self._sweep(batch, posts)

    def _sweep_no_later_than(self, when: float) -> None:
        """Bring the next look at the inbox forward to `when` (a post is due again then)."""
        if when < self._next_sweep:
            self._next_sweep = when
            self._sleep.deadline = when

    async def _pump_events(self, send: MemoryObjectSendStream[Batch]) -> None:
        core = self.config.core
        polling = choose_polling(core.poll, self.inbox)
        log.info("watcher.started", inbox=str(self.inbox), polling=polling)
        batches = watch_inbox(self.inbox, self.reloader.path, force_polling=polling)
        async with send, aclosing(batches):  # the watch ends with the task, however it ends
            async for batch in batches:
                await send.send(batch)

    async def _sweep(self, batch: Batch, posts: TaskGroup) -> None:
        """Look at the inbox and start every post that is complete and not already going."""
        if not self._locks_held():
            return
        await self._apply_config(await self.reloader.reload_if_changed())
        now = anyio.current_time()
        # A config still being written is looked at again once it has been still long enough.
        self._next_sweep = min(now + self.config.core.rescan_seconds, self.reloader.due_at)
        try:
            # Events name what changed; the periodic look (an empty batch) lists everything.
            changed = batch.paths if batch.paths else None
            due, next_due = self._inbox.due(now, changed, batch.renamed_in)
        except OSError as error:
            log.error("inbox.unreadable", inbox=str(self.inbox), error=str(error))
            return
        for candidate in due:
            posts.start_soon(self._process, candidate)
        self._next_sweep = min(self._next_sweep, next_due)
        self._tell_waiting()
        if now >= self._next_unfiled_check:  # also finish filings that a full disk interrupted
            self._next_unfiled_check = now + self.config.core.rescan_seconds
            await self._workflow.finish_unfiled(skip=self._inbox.in_flight_stems)

    def _tell_waiting(self) -> None:
        """Tell the owner's view what waits in the inbox, when that changed."""
        waiting = self._inbox.waiting()
        if waiting != self._last_waiting:
            self._last_waiting = waiting
            self.observers.notify(waiting)

    async def _process(self, candidate: Candidate) -> None:
        retry_at, for_a_platform = None, False
        try:
            result = await self._workflow.publish(candidate)
            if isinstance(result, Later):
                retry_at, for_a_platform = result.at, result.for_a_platform
        except Exception as error:  # one post's trouble must not take the daemon down
            retry_at = self._after_trouble(candidate, error)
        finally:
            self._inbox.finished(candidate, retry_at, for_a_platform=for_a_platform)
            if retry_at is not None:
                self._sweep_no_later_than(retry_at)

    def _after_trouble(self, candidate: Candidate, error: Exception) -> float:
        """When to look at a post again after `error`: at the next look if the machine's
        (a full disk, a folder it may not write: that passes), else only after a restart."""
        if is_environmental(error):
            with structlog.contextvars.bound_contextvars(post=candidate.stem):
                self._workflow.stalls.stalled(error)
            return anyio.current_time() + self.config.core.rescan_seconds
        # A bug. Not retried on its own: it may have been published already.
        log.exception("post.crashed", post=candidate.stem)
        return float("inf")

    async def _apply_config(self, config: ApplicationConfig | None) -> None:
        if config is None:
            return
        previous = self.config.core
        needs_restart = [
            key for key in _RESTART_KEYS if getattr(previous, key) != getattr(config.core, key)
        ]
        if needs_restart:
            log.warning(
                "config.restart_required",
                keys=needs_restart,
                detail="restart dropcast to apply these; until then the old values stay",
            )
            kept = {key: getattr(previous, key) for key in needs_restart}
            config = replace(config, core=config.core.model_copy(update=kept))
        enabled_before = set(self.config.enabled_platforms)
        await self.platforms.apply(config)
        for service in self._owner_services:
            service.apply(config)
        if set(config.enabled_platforms) - enabled_before:  # posts that waited for one go now
            self._inbox.platform_enabled()
            self._sweep_no_later_than(anyio.current_time())
        self._inbox.tracker.settle_seconds = config.core.settle_seconds
        self._inbox.orphan_warning_seconds = config.core.orphan_warning_seconds
        self._workflow.max_in_flight = config.core.max_concurrent_posts
        set_max_image_pixels(config.core.max_image_pixels)

    async def _handle_signals(self, *, task_status: TaskStatus[None]) -> None:
        # A reload runs in its own task, so that a SIGTERM is heard while it waits for a
        # config being written; one at a time, and a SIGHUP during one asks for one more.
        requests, requested = anyio.create_memory_object_stream[None](1)

        async def reload_on_request() -> None:
            async for _ in requested:
                await self.reload()

        receiver = anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        with receiver as signals, requests, requested:
            async with anyio.create_task_group() as reloads:
                reloads.start_soon(reload_on_request)
                task_status.started()
                async for received in signals:
                    if received == signal.SIGHUP:
                        log.info("config.reload_requested", signal="SIGHUP")
                        if not requests.statistics().current_buffer_used:  # else one waits
                            requests.send_nowait(None)
                    elif not self._stopping:
                        log.info("daemon.signal_received", signal=signal.Signals(received).name)
                        self.stop()
                    else:  # asked twice: stop now; posts cut off are finished at the next start
                        log.warning("daemon.stopping_now", signal=signal.Signals(received).name)
                        self._posts_scope.cancel()
