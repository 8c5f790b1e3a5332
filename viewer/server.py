"""One loopback HTTP origin for the OHIF app: its static files, our app-config.js, and a proxy to Orthanc's DICOMweb.

Same origin, so the browser needs no CORS and Orthanc keeps refusing remote clients. The proxy forwards the
browser's Host header, so the URLs Orthanc writes into DICOMweb answers (BulkDataURI, RetrieveURL) point back at
this origin. Paths that are not files (OHIF's client-side routes such as /viewer) get index.html.
"""

from __future__ import annotations

import http.client
import logging
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from viewer.app_config import app_config_js

__all__ = ["ViewerServer", "DICOMWEB_PATH"]

logger = logging.getLogger(__name__)

DICOMWEB_PATH = "/dicom-web"
_FORWARDED_REQUEST_HEADERS = ("Accept", "Content-Type", "Range", "Host")
_FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Content-Range", "Accept-Ranges", "Location")
# OHIF uses SharedArrayBuffer for volumes when the page is cross-origin isolated.
_ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
_MAX_BODY = 2 * 1024**3  # a STOW body or an answer larger than this is refused, not buffered


class _Handler(SimpleHTTPRequestHandler):
    """Static files from `directory`, `/app-config.js` from `config`, `/dicom-web/...` proxied to `upstream`."""

    protocol_version = "HTTP/1.1"
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript"}

    def __init__(self, *args, upstream: tuple[str, int], upstream_path: str, config: bytes, **kwargs) -> None:
        self.upstream = upstream
        self.upstream_path = upstream_path
        self.config = config
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        logger.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        for name, value in _ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def _is_proxied(self) -> bool:
        path = urlsplit(self.path).path
        return path == DICOMWEB_PATH or path.startswith(DICOMWEB_PATH + "/")

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self._is_proxied():
            self._proxy()
        elif urlsplit(self.path).path == "/app-config.js":
            self._send_bytes(self.config, "text/javascript")
        else:
            self._static()

    def do_HEAD(self) -> None:  # noqa: N802
        if self._is_proxied():
            self._proxy()
        else:
            super().do_HEAD()

    def do_POST(self) -> None:  # noqa: N802
        if self._is_proxied():
            self._proxy()
        else:
            self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "only DICOMweb takes POST here")

    def _send_bytes(self, body: bytes, content_type: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _static(self) -> None:
        # A path that is not a file is one of OHIF's client-side routes: the single-page app handles it.
        local = Path(self.translate_path(self.path))
        if not local.exists():
            self.path = "/index.html"
        super().do_GET()

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes")
            return
        body = self.rfile.read(length) if length else None
        headers = {name: self.headers[name] for name in _FORWARDED_REQUEST_HEADERS if self.headers.get(name)}
        target = self.upstream_path + self.path[len(DICOMWEB_PATH) :]
        connection = http.client.HTTPConnection(*self.upstream, timeout=300)
        try:
            connection.request(self.command, target, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read(_MAX_BODY + 1)
        except (OSError, http.client.HTTPException) as exc:
            self.send_error(HTTPStatus.BAD_GATEWAY, f"Orthanc: {exc}")
            return
        finally:
            connection.close()
        if len(payload) > _MAX_BODY:
            self.send_error(HTTPStatus.BAD_GATEWAY, "Orthanc's answer is larger than the proxy buffers")
            return
        self.send_response(answer.status, answer.reason)
        for name in _FORWARDED_RESPONSE_HEADERS:
            if answer.getheader(name):
                self.send_header(name, answer.getheader(name))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class ViewerServer:
    """The OHIF app in `app_dir` and Orthanc's DICOMweb at `dicomweb_url`, served on 127.0.0.1:`port`.

    OHIF reads `/app-config.js`: the file `app_config` when given (written by the caller), else our default.
    """

    def __init__(self, app_dir: Path, dicomweb_url: str, port: int = 0, app_config: Path | None = None) -> None:
        upstream = urlsplit(dicomweb_url)
        if upstream.scheme != "http" or not upstream.hostname:
            raise ValueError(f"expected an http:// DICOMweb root, got {dicomweb_url!r}")
        if not (Path(app_dir) / "index.html").is_file():
            raise ValueError(f"expected the OHIF app (index.html) in {app_dir}, found none")
        handler = partial(
            _Handler,
            directory=str(app_dir),
            upstream=(upstream.hostname, upstream.port or 80),
            upstream_path=upstream.path.rstrip("/"),
            config=Path(app_config).read_bytes() if app_config else app_config_js(DICOMWEB_PATH).encode(),
        )
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The viewer's origin, e.g. http://127.0.0.1:8042 (OHIF's study list)."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def study_url(self, study_instance_uid: str) -> str:
        """OHIF's basic viewer on one study."""
        return f"{self.url}/viewer?StudyInstanceUIDs={study_instance_uid}"

    def start(self) -> ViewerServer:
        """Serve in a background thread."""
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="ohif-viewer", daemon=True)
        self.thread.start()
        logger.info("OHIF viewer at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join()
            self.thread = None
        self.httpd.server_close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
