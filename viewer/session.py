"""A viewing session: Orthanc with a run's results and their source studies, and OHIF on the same origin.

The studies shown are those a run analysed (status "ok" in result.json, so they have DICOM objects); their
source images come from the input folder (indexed by headers, as a run does). Both servers listen on 127.0.0.1
only and are stopped together.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dicom_in.study_index import index_folder, usable_cpus
from pacs.orthanc import OrthancError, OrthancServer
from report_page.entries import PageEntry, page_entry
from report_page.sources import study_rows
from run.atomic_io import atomic_write_text
from viewer.app_config import app_config_js
from viewer.ohif_install import ensure_ohif
from viewer.server import DICOMWEB_PATH, ViewerServer

__all__ = ["ViewedStudy", "ViewerSession", "results_to_view"]

logger = logging.getLogger(__name__)

_UPLOAD_THREADS = 4


@dataclass(frozen=True)
class ViewedStudy:
    """A study with results: its page entry (UID, app, call, objects) and the run folder its links start from."""

    entry: PageEntry
    folder: Path

    @property
    def objects(self) -> list[Path]:
        """Our DICOM objects for the study."""
        return [self.folder / name for name in self.entry.objects]


def results_to_view(run_folders: Sequence[Path]) -> list[ViewedStudy]:
    """The analysed studies (status "ok", with DICOM objects) of the run folders."""
    entries = [(page_entry(row, Path(folder)), Path(folder)) for folder in run_folders for row in study_rows(folder)]
    return [ViewedStudy(entry, folder) for entry, folder in entries if entry.status == "ok" and entry.objects]


def _source_files(input_folder: Path, study_uids: set[str]) -> list[Path]:
    index = index_folder(input_folder, processes=usable_cpus())
    return [
        path
        for uid in sorted(study_uids & set(index.studies))
        for paths in index.studies[uid].values()
        for path in paths
    ]


@dataclass
class ViewerSession:
    """Orthanc (under `workdir`) holding the results of `run_folders` and their sources, OHIF in front of it."""

    run_folders: Sequence[Path]
    input_folder: Path | None
    workdir: Path
    ohif_folder: Path
    port: int = 0
    studies: list[ViewedStudy] = field(default_factory=list, init=False)
    orthanc: OrthancServer | None = field(default=None, init=False)
    server: ViewerServer | None = field(default=None, init=False)

    def _upload(self, files: Sequence[Path]) -> int:
        def one(path: Path) -> bool:
            try:
                self.orthanc.upload(path)
                return True
            except (OrthancError, OSError) as exc:
                logger.warning("Orthanc refused %s: %s", path, str(exc)[:160])
                return False

        with ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
            return sum(pool.map(one, files))

    def start(self) -> ViewerSession:
        """Install OHIF if needed, start Orthanc, upload, serve; stops what it started if anything fails."""
        app_dir = ensure_ohif(self.ohif_folder)
        self.studies = results_to_view(self.run_folders)
        uids = {study.entry.study_uid for study in self.studies}
        sources = _source_files(self.input_folder, uids) if self.input_folder else []
        objects = [path for study in self.studies for path in study.objects]
        # A fresh Orthanc each session: only this run's studies, not those of an earlier session.
        shutil.rmtree(Path(self.workdir) / "orthanc", ignore_errors=True)
        self.orthanc = OrthancServer(Path(self.workdir) / "orthanc").start()
        try:
            stored = self._upload(sources + objects)
            total = len(sources) + len(objects)
            logger.info("Orthanc stored %d of %d files (%d studies with results)", stored, total, len(self.studies))
            config = atomic_write_text(Path(self.workdir) / "app-config.js", app_config_js(DICOMWEB_PATH))
            self.server = ViewerServer(app_dir, self.orthanc.dicomweb_url, self.port, config).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the web server, then Orthanc (by its PID)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.orthanc is not None:
            self.orthanc.stop()
            self.orthanc = None

    def __enter__(self) -> ViewerSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
