"""The DICOM node: studies arrive (C-STORE, or pulled by DICOMweb), wait for quiet, run through the suite in this
process with models loaded once at start, and their results go to the configured destinations.

Threads: pynetdicom's serve C-STORE (spool writes only); the main thread finds quiet studies and analyses
them (Holoscan graphs); one sender thread delivers results, retrying with backoff. Every study move is
saved in its record (pacs.spool), so a restart continues where the node stopped. `status.json` in the storage
folder holds run.json-style counters, rewritten every few seconds and at each study's end.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dicom_in.study import InputFailure
from pacs.analysis import StudyOutcome, analyse_studies, result_files
from pacs.config import DicomWebDestination, NodeConfig
from pacs.scp import OUT_OF_RESOURCES, SUCCESS, BadInstance, Received, StoreSCP, parse_instance
from pacs.sender import SendError, backoff, send_files
from pacs.spool import SendState, Spool, State, StudyRecord
from run.atomic_io import atomic_write_json
from run.batch import BatchOptions, loaded_models
from run.ledger import one_line, printable_item
from run.lock import OutputLock, check_writable, lock_output
from run.plan import Shard
from run.suite import SuiteRunner

__all__ = ["Node", "STATUS_FILE", "FAILURES_FILE", "LOG_FILE"]

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
FAILURES_FILE = "failures.csv"
LOG_FILE = "node.log"
_FAILURE_COLUMNS = ["time", "item", "study_instance_uid", "app", "reason"]
_STATUS_EVERY = 2.0  # seconds between status.json rewrites while nothing ends
_TICK = 0.2  # seconds between looks for quiet studies


def _iso(seconds: float | None = None) -> str:
    moment = datetime.fromtimestamp(seconds if seconds is not None else time.time(), timezone.utc)
    return moment.isoformat(timespec="seconds")


class Node:
    """One node over one storage folder (locked: one node per folder)."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.spool: Spool | None = None
        self.records: dict[str, StudyRecord] = {}
        self.counters: Counter[str] = Counter()
        self.started = _iso()
        self._lock = threading.RLock()
        self._changed_while_analysing: set[str] = set()
        self._stop = threading.Event()
        self._wake_sender = threading.Event()
        self._sender: threading.Thread | None = None
        self._scp: StoreSCP | None = None
        self._output_lock: OutputLock | None = None
        self._last_status = 0.0
        options = BatchOptions(
            input=config.storage,
            output=config.storage / "results",
            models=config.models,
            batch_size=config.batch_size,
            device=config.device,
            progress=False,
            workers=config.workers,
            rules=config.rules,
        )
        self.runner = SuiteRunner(apps=list(config.apps), options=options)

    # --- start and stop -------------------------------------------------------------------------------------

    def open(self) -> None:
        """Lock and read back the storage folder, then load and check every model (all before listening)."""
        self.open_storage()
        self.runner.warm(list(self.config.apps))
        self.runner.store.convert_to_mkldnn()  # the node lives for many studies: prepack the weights once

    def open_storage(self) -> None:
        """Lock the storage folder (one node per folder) and read every study record back."""
        check_writable(self.config.storage)
        self._output_lock = lock_output(self.config.storage, Shard(), purpose="node")
        self.spool = Spool(self.config.storage, durable=self.config.fsync)
        self.records = self.spool.load_all()
        for record in self.records.values():
            if record.state == State.ANALYSING and self.spool.count(record.study_uid) != record.analysed_instances:
                record.state = State.RECEIVING  # more arrived before the stop: analyse the whole study afresh
            if record.state == State.RECEIVING:
                record.last_received = time.time()  # its quiet time starts again now
        states = Counter(r.state for r in self.records.values())
        logger.info("Node storage %s: %d studies known %s", self.config.storage, len(self.records), dict(states))

    def start_sender(self) -> None:
        """Start delivering results in the background."""
        self._sender = threading.Thread(target=self._send_loop, name="node-sender", daemon=True)
        self._sender.start()

    def listen(self) -> None:
        """Start the C-STORE SCP."""
        config = self.config
        self._scp = StoreSCP(
            config.ae_title,
            config.host,
            config.port,
            config.calling_ae_titles,
            receive=self.receive,
            refuse=self.refuse,
            has_room=self.has_room,
        )
        self._scp.start()

    def stop(self) -> None:
        """Ask the loops to end (a signal handler may call this)."""
        self._stop.set()
        self._wake_sender.set()

    def close(self) -> None:
        """Stop listening and sending, write the status, release the storage folder."""
        self.stop()
        if self._scp is not None:
            self._scp.stop()
        if self._sender is not None:
            self._sender.join(timeout=60)
        if self.spool is not None:
            self.write_status()
        if self._output_lock is not None:
            self._output_lock.release()

    def serve(self) -> None:
        """Run until stopped: analyse quiet studies as they complete; the SCP and sender run beside."""
        while not self._stop.is_set():
            try:
                self.tick()
            # A full disk or a vanished file must not end the node: log it and look again on the next tick.
            except Exception:  # noqa: BLE001
                logger.exception("Node step failed; trying again")
                self._stop.wait(5.0)
            self._stop.wait(_TICK)

    # --- receiving ------------------------------------------------------------------------------------------

    def has_room(self) -> bool:
        """Whether free space in storage is above the configured floor."""
        return self.spool.free_bytes() >= self.config.min_free_mb * 2**20

    def refuse(self, item: str, study_uid: str, reason: str) -> None:
        """Log an instance that could not be filed (to failures.csv)."""
        with self._lock:
            self.counters["instances_refused"] += 1
        self._log_failures([("", InputFailure(item, reason, study_uid))])

    def receive(self, received: Received) -> int:
        """File one instance in the spool and its study's record; the C-STORE status to answer."""
        if received.own_result:
            with self._lock:
                self.counters["own_results_ignored"] += 1
            return SUCCESS
        try:
            new = self.spool.store(received.study_uid, received.sop_instance_uid, received.payload)
        except OSError as exc:
            self.refuse(f"instance {received.sop_instance_uid} from {received.source}", received.study_uid, str(exc))
            return OUT_OF_RESOURCES
        now = time.time()
        with self._lock:
            self.counters["instances_received"] += 1
            record = self.records.get(received.study_uid)
            if record is None:
                record = StudyRecord(received.study_uid, first_received=now, calling_ae=received.source)
                self.records[received.study_uid] = record
                self.spool.save(record)
            if not new:
                self.counters["instances_duplicate"] += 1
                return SUCCESS
            record.instances += 1
            record.last_received = now
            if record.state == State.ANALYSING:
                self._changed_while_analysing.add(record.study_uid)
            elif record.state != State.RECEIVING:
                logger.info(
                    "Study %s: new instances after %s: analysed again when quiet", record.study_uid, record.state
                )
                record.state, record.sends, record.outcome = State.RECEIVING, {}, ""
                self.spool.save(record)
        return SUCCESS

    def accept(self, payload: bytes, source: str) -> None:
        """File one instance fetched by DICOMweb (pull mode) as if it had been stored."""
        try:
            self.receive(parse_instance(payload, source))
        except BadInstance as exc:
            self.refuse(f"instance from {source}", "", str(exc))

    def complete_now(self, study_uids: Iterable[str]) -> None:
        """Treat these studies as complete (pull mode: every instance is already here)."""
        with self._lock:
            for uid in study_uids:
                if uid in self.records and self.records[uid].state == State.RECEIVING:
                    self.records[uid].last_received = 0.0

    # --- analysing ------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Analyse the studies that are complete; purge old finished ones; rewrite status.json when due."""
        due = self._due()
        if due:
            self.analyse(due)
        if self.config.keep_days:
            self._purge(time.time() - self.config.keep_days * 86400)
        if time.time() - self._last_status >= _STATUS_EVERY:
            self.write_status()

    def _due(self) -> list[str]:
        now = time.time()
        with self._lock:
            return sorted(
                uid
                for uid, r in self.records.items()
                if r.state == State.ANALYSING
                or (r.state == State.RECEIVING and now - r.last_received >= self.config.quiet_seconds)
            )

    def analyse(self, study_uids: list[str]) -> None:
        """Route and run these studies (one graph per app over all of them), then queue their results."""
        with self._lock:
            for uid in study_uids:
                record = self.records[uid]
                if record.state == State.RECEIVING:  # a fresh analysis; after a restart, ANALYSING resumes
                    self.spool.clear_results(uid, list(self.config.apps))
                    record.analysed_instances = record.instances = self.spool.count(uid)
                    record.state = State.ANALYSING
                    self.spool.save(record)
                self._changed_while_analysing.discard(uid)
        logger.info("Analysing %d studies: %s", len(study_uids), study_uids)
        try:
            outcomes = analyse_studies(self.runner, self.spool, study_uids)
        # The node outlives any study: whatever escaped the apps' own isolation fails these studies only.
        except Exception as exc:  # noqa: BLE001
            logger.exception("Analysis of %s failed", study_uids)
            reason = one_line(f"analysis failed: {type(exc).__name__}: {exc}", 300)
            outcomes = {uid: StudyOutcome(uid, error=reason) for uid in study_uids}
        for outcome in outcomes.values():
            self._log_failures(outcome.failures)
        with self._lock:
            for uid, outcome in outcomes.items():
                self._after_analysis(self.records[uid], outcome)
        self._wake_sender.set()
        self.write_status()

    def _after_analysis(self, record: StudyRecord, outcome: StudyOutcome) -> None:
        if record.study_uid in self._changed_while_analysing:
            record.state = State.RECEIVING  # what was analysed is not the whole study: again when quiet
            self._changed_while_analysing.discard(record.study_uid)
            self.spool.save(record)
            return
        record.apps, record.error, record.analysed_at = outcome.apps, outcome.error, time.time()
        files = result_files(self.spool.results_dir, record.study_uid, outcome.apps)
        if files and self.config.destinations:
            record.state = State.SENDING
            record.sends = {d.name: SendState() for d in self.config.destinations}
            self.spool.save(record)
            return
        if outcome.no_app_reason:
            record.outcome, record.error = "no_matching_app", outcome.no_app_reason
        elif outcome.error or not files:
            record.outcome = "failed" if outcome.error or not outcome.apps else "no_results"
        else:
            record.outcome = "kept"  # results on disk, no destination configured
        self._finish(record)

    def _finish(self, record: StudyRecord) -> None:
        record.state, record.done_at = State.DONE, time.time()
        self.counters[f"studies_{record.outcome}"] += 1
        logger.info("%s", study_line(record))
        self.write_status()  # first: once the record says done, status.json already counts it
        self.spool.save(record)

    # --- sending --------------------------------------------------------------------------------------------

    def _next_send(self) -> tuple[StudyRecord, Any, list[Path], float | None] | None:
        now = time.time()
        with self._lock:
            for record in sorted(self.records.values(), key=lambda r: r.analysed_at or 0.0):
                if record.state != State.SENDING:
                    continue
                for destination in self.config.destinations:
                    state = record.sends.get(destination.name)
                    if state is not None and state.status != "sent" and state.next_attempt <= now:
                        files = result_files(self.spool.results_dir, record.study_uid, record.apps)
                        return record, destination, files, record.analysed_at
        return None

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            job = self._next_send()
            if job is None:
                self._wake_sender.wait(0.5)
                self._wake_sender.clear()
                continue
            record, destination, files, analysed_at = job
            error = ""
            try:
                send_files(destination, files, self.config.ae_title)
            except SendError as exc:
                error = one_line(exc, 300)
            except Exception as exc:  # noqa: BLE001 - the sender thread must outlive any one send
                logger.exception("Sending study %s to %s failed", record.study_uid, destination)
                error = one_line(f"{type(exc).__name__}: {exc}", 300)
            self._sent(record, destination.name, len(files), analysed_at, error)

    def _sent(self, record: StudyRecord, destination: str, count: int, analysed_at: float | None, error: str) -> None:
        now = time.time()
        with self._lock:
            if record.state != State.SENDING or record.analysed_at != analysed_at:
                return  # new instances arrived meanwhile: these results are superseded
            state = record.sends[destination]
            state.attempts += 1
            if error:
                wait = backoff(state.attempts, self.config.retry_first_seconds, self.config.retry_max_seconds)
                state.error, state.next_attempt = error, now + wait
                self.counters["send_attempts_failed"] += 1
                logger.warning(
                    "Study %s: send to %s failed (%s); next try in %.0f s", record.study_uid, destination, error, wait
                )
                self.spool.save(record)
                return
            state.status, state.sent_at, state.error = "sent", now, ""
            self.counters["objects_sent"] += count
            if all(s.status == "sent" for s in record.sends.values()):
                record.outcome = "sent"
                self._finish(record)
            else:
                self.spool.save(record)

    # --- records, failures, status --------------------------------------------------------------------------

    def _log_failures(self, failures: list[tuple[str, InputFailure]]) -> None:
        if not failures:
            return
        path = self.config.storage / FAILURES_FILE
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_FAILURE_COLUMNS, lineterminator="\n")
        now = _iso()
        for app, failure in failures:
            writer.writerow(
                {
                    "time": now,
                    "item": printable_item(failure.item),
                    "study_instance_uid": printable_item(failure.study_uid),
                    "app": app,
                    "reason": one_line(failure.reason),
                }
            )
        with self._lock:
            self.counters["failures"] += len(failures)
            new = not path.exists()
            with open(path, "a", encoding="utf-8", newline="") as handle:
                handle.write((",".join(_FAILURE_COLUMNS) + "\n" if new else "") + buffer.getvalue())

    def _purge(self, before: float) -> None:
        with self._lock:
            old = [r for r in self.records.values() if r.state == State.DONE and (r.done_at or 0) < before]
            for record in old:
                self.spool.purge(record, list(self.config.apps))
                del self.records[record.study_uid]
        if old:
            logger.info("Deleted %d finished studies older than %s days", len(old), self.config.keep_days)

    def status(self) -> dict[str, Any]:
        """run.json-style counters: studies by state and outcome, instances, sends, failures; who and where."""
        with self._lock:
            states = Counter(r.state for r in self.records.values())
            outcomes = Counter(r.outcome for r in self.records.values() if r.state == State.DONE)
            pending = sum(
                1
                for r in self.records.values()
                if r.state == State.SENDING
                for s in r.sends.values()
                if s.status != "sent"
            )
            counters = dict(self.counters)
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": self.started,
            "updated": _iso(),
            "ae_title": self.config.ae_title,
            "address": f"{self.config.host}:{self.config.port}",
            "storage": str(self.config.storage),
            "apps": list(self.config.apps),
            "destinations": [str(d) for d in self.config.destinations],
            "counts": {
                "studies": {state: states.get(state, 0) for state in State.ALL},
                "outcomes": dict(sorted(outcomes.items())),
                "sends_pending": pending,
                **{key: counters.get(key, 0) for key in _COUNTERS},
            },
            "models": loaded_models(self.runner.store),
        }

    def write_status(self) -> None:
        """Rewrite status.json (atomically)."""
        self._last_status = time.time()
        atomic_write_json(self.config.storage / STATUS_FILE, self.status())

    def all_done(self, study_uids: Iterable[str]) -> bool:
        """Whether every one of these studies is DONE."""
        with self._lock:
            return all(uid in self.records and self.records[uid].state == State.DONE for uid in study_uids)

    def default_destination(self, url: str) -> None:
        """Pull mode without a configured destination: results go back by STOW-RS to where they came from."""
        if not self.config.destinations:
            self.config = replace(self.config, destinations=(DicomWebDestination("source", url.rstrip("/")),))


_COUNTERS = (
    "instances_received",
    "instances_duplicate",
    "instances_refused",
    "own_results_ignored",
    "objects_sent",
    "send_attempts_failed",
    "failures",
)


def study_line(record: StudyRecord) -> str:
    """The one log line per finished study: UID, apps and their calls, where the results went."""
    apps = "; ".join(
        f"{app} {o.get('status')}: {one_line(o.get('summary', ''), 160)}" for app, o in record.apps.items()
    )
    sends = ", ".join(
        f"{name} {'ok' if s.status == 'sent' else 'PENDING'} after {s.attempts} attempt(s)"
        for name, s in record.sends.items()
    )
    if record.outcome == "no_matching_app":
        apps = f"no app reads it ({one_line(record.error, 300)})"
    elif record.outcome == "failed":
        apps = f"failed: {one_line(record.error or apps, 300)}"
    return f"Study {record.study_uid} {record.outcome}: {apps or 'no app'} | sent: {sends or 'nothing to send'}"
