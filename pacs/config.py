"""The DICOM node's settings: one YAML file (`--config node.yaml`), each key also a flag; checked once at start.

ae_title: MSKMAPS              # our AE title
host: 127.0.0.1                # where the C-STORE SCP listens (0.0.0.0 to take studies from other hosts)
port: 11112
calling_ae_titles: [ORTHANC]   # only these AEs may associate; anyone else is rejected at association
storage: /var/lib/msk-maps     # spool, study states, results, failures.csv, node.log, status.json
models: models
apps: [olt_mri, ankle_xray, onfh_mri]
quiet_seconds: 5               # a study is complete when no instance has arrived for this long
min_free_mb: 1024              # below this much free space in storage, C-STORE is answered 0xA700
keep_days: 7                   # finished studies' spool and results are deleted after this long (0: never)
destinations:                  # where results go (SR, SEG, SC), each retried with backoff until it takes them
  - {name: pacs, type: dicom, ae_title: ORTHANC, host: 127.0.0.1, port: 4242}      # C-STORE
  - {name: web, type: dicomweb, url: "http://127.0.0.1:8042/dicom-web"}           # STOW-RS
retry: {first_seconds: 5, max_seconds: 300}
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from apps.catalog import app_names

__all__ = ["DicomDestination", "DicomWebDestination", "Destination", "NodeConfig", "ConfigError", "add_node_flags"]

_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # the standard's AE VR: 16 printable chars, no backslash


class ConfigError(ValueError):
    """The node's settings are wrong (one line naming the key)."""


def _ae_title(value: object, key: str) -> str:
    title = str(value).strip()
    if not _AE_TITLE.fullmatch(title):
        raise ConfigError(f"{key}: {value!r} is not an AE title (1-16 printable characters, no backslash)")
    return title


@dataclass(frozen=True)
class DicomDestination:
    """A remote AE that takes our results by C-STORE."""

    name: str
    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.name} (C-STORE {self.ae_title}@{self.host}:{self.port})"


@dataclass(frozen=True)
class DicomWebDestination:
    """A DICOMweb service that takes our results by STOW-RS."""

    name: str
    url: str

    def __str__(self) -> str:
        return f"{self.name} (STOW-RS {self.url})"


Destination = DicomDestination | DicomWebDestination


def _destination(spec: Any, number: int) -> Destination:
    if not isinstance(spec, dict):
        raise ConfigError(f"destinations[{number}]: expected a mapping, got {spec!r}")
    kind = spec.get("type")
    name = str(spec.get("name") or f"{kind}{number}")
    try:
        if kind == "dicom":
            port = int(spec["port"])
            return DicomDestination(name, _ae_title(spec["ae_title"], f"{name}.ae_title"), str(spec["host"]), port)
        if kind == "dicomweb":
            url = str(spec["url"]).rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"destinations[{number}].url: {url!r} is not an http(s) URL")
            return DicomWebDestination(name, url)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"destinations[{number}] ({name}): missing or bad {exc}") from exc
    raise ConfigError(f"destinations[{number}]: type must be 'dicom' or 'dicomweb', got {kind!r}")


def parse_dicom_target(text: str) -> DicomDestination:
    """`AE@host:port` (a --send-dicom flag) as a destination."""
    match = re.fullmatch(r"(?P<ae>[^@]+)@(?P<host>[^:]+):(?P<port>\d+)", text)
    if not match:
        raise ConfigError(f"--send-dicom: expected AE@host:port, got {text!r}")
    ae = _ae_title(match["ae"], "--send-dicom")
    return DicomDestination(ae.lower(), ae, match["host"], int(match["port"]))


@dataclass(frozen=True)
class NodeConfig:
    """Everything the node needs; see the module docstring for the YAML."""

    ae_title: str = "MSKMAPS"
    host: str = "127.0.0.1"
    port: int = 11112
    calling_ae_titles: tuple[str, ...] = ()
    storage: Path = Path("msk-maps-node")
    models: Path = Path("models")
    apps: tuple[str, ...] = field(default_factory=lambda: tuple(app_names()))
    rules: Path | None = None
    quiet_seconds: float = 5.0
    min_free_mb: float = 1024.0
    keep_days: float = 7.0
    fsync: bool = True
    destinations: tuple[Destination, ...] = ()
    retry_first_seconds: float = 5.0
    retry_max_seconds: float = 300.0
    batch_size: int | None = None
    device: str | None = None
    workers: int = 4

    @classmethod
    def from_mapping(cls, spec: dict[str, Any], base: Path = Path(".")) -> NodeConfig:
        """From a YAML mapping; relative paths are taken from `base` (the file's folder)."""
        known = {f.name for f in fields(cls)} | {"retry"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for key in ("ae_title", "host", "port", "quiet_seconds", "min_free_mb", "keep_days", "batch_size", "device"):
            if key in spec:
                values[key] = spec[key]
        if "workers" in spec:
            values["workers"] = int(spec["workers"])
        if "fsync" in spec:
            if not isinstance(spec["fsync"], bool):
                raise ConfigError(f"fsync: true or false, got {spec['fsync']!r}")
            values["fsync"] = spec["fsync"]
        for key in ("storage", "models", "rules"):
            if spec.get(key) is not None:
                values[key] = base / Path(str(spec[key]))
        if "calling_ae_titles" in spec:
            values["calling_ae_titles"] = tuple(spec["calling_ae_titles"] or ())
        if "apps" in spec:
            values["apps"] = tuple(spec["apps"] or ())
        if "destinations" in spec:
            values["destinations"] = tuple(_destination(d, n) for n, d in enumerate(spec["destinations"] or ()))
        retry = spec.get("retry") or {}
        if "first_seconds" in retry:
            values["retry_first_seconds"] = retry["first_seconds"]
        if "max_seconds" in retry:
            values["retry_max_seconds"] = retry["max_seconds"]
        return cls(**values).checked()

    @classmethod
    def from_file(cls, path: Path) -> NodeConfig:
        """From a YAML file (ConfigError, one line, if it can't be read)."""
        try:
            spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        return cls.from_mapping(spec, Path(path).resolve().parent)

    def checked(self) -> NodeConfig:
        """The same settings with types fixed; ConfigError naming the first wrong one."""
        try:
            port = int(self.port)
            numbers = {
                name: float(getattr(self, name))
                for name in ("quiet_seconds", "min_free_mb", "keep_days", "retry_first_seconds", "retry_max_seconds")
            }
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"a number is expected: {exc}") from exc
        if not 0 < port < 65536:
            raise ConfigError(f"port must be 1..65535, got {port}")
        if any(value < 0 for value in numbers.values()):
            raise ConfigError(f"times and sizes can't be negative: {numbers}")
        unknown = sorted(set(self.apps) - set(app_names()))
        if unknown or not self.apps:
            raise ConfigError(f"apps must be some of {app_names()}, got {list(self.apps)}")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        names = [d.name for d in self.destinations]
        if len(set(names)) != len(names):
            raise ConfigError(f"destination names must differ: {names}")
        return replace(
            self,
            ae_title=_ae_title(self.ae_title, "ae_title"),
            calling_ae_titles=tuple(_ae_title(t, "calling_ae_titles") for t in self.calling_ae_titles),
            port=port,
            storage=Path(self.storage),
            models=Path(self.models),
            **numbers,
        )

    def with_flags(self, args: argparse.Namespace) -> NodeConfig:
        """These settings with every flag given on the command line put over them."""
        values: dict[str, Any] = {}
        for key in ("ae_title", "host", "port", "storage", "models", "rules", "quiet_seconds", "min_free_mb", "device"):
            if getattr(args, key, None) is not None:
                values[key] = getattr(args, key)
        for key in ("batch_size", "workers", "keep_days"):
            if getattr(args, key, None) is not None:
                values[key] = getattr(args, key)
        if args.allow:
            values["calling_ae_titles"] = tuple(args.allow)
        if args.apps:
            values["apps"] = tuple(args.apps)
        destinations = [parse_dicom_target(t) for t in args.send_dicom or ()]
        destinations += [
            DicomWebDestination(f"dicomweb{n}", u.rstrip("/")) for n, u in enumerate(args.send_dicomweb or ())
        ]
        if destinations:
            values["destinations"] = tuple(destinations)
        return replace(self, **values).checked()


def add_node_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that override node.yaml (each optional)."""
    parser.add_argument("--config", type=Path, help="node.yaml (flags given beside it win)")
    parser.add_argument("--ae-title", help="our AE title (MSKMAPS)")
    parser.add_argument("--host", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, help="DICOM port (11112)")
    parser.add_argument("--allow", action="append", metavar="AE", help="a calling AE title that may store (repeat)")
    parser.add_argument("--storage", type=Path, help="the node's folder: spool, states, results, logs")
    parser.add_argument("-m", "--models", type=Path, help="models folder (models)")
    parser.add_argument("--apps", nargs="+", choices=app_names(), help="only these apps (default: all)")
    parser.add_argument("--rules", type=Path, help="site selection rules (JSON) merged over every app's own")
    parser.add_argument("--quiet-seconds", type=float, help="a study is complete after this long without data (5)")
    parser.add_argument("--min-free-mb", type=float, help="refuse C-STORE (0xA700) below this free space (1024)")
    parser.add_argument("--keep-days", type=float, help="delete finished studies' files after this long (7; 0 never)")
    parser.add_argument("--send-dicom", action="append", metavar="AE@HOST:PORT", help="C-STORE results there")
    parser.add_argument("--send-dicomweb", action="append", metavar="URL", help="STOW-RS results there")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--workers", type=int, help="scheduler threads per app graph (4)")
    parser.add_argument("--batch-size", type=int, help="images per forward pass (the app's default)")
