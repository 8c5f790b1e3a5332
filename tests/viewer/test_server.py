"""The viewer's one origin: OHIF's static files and routes, our app-config.js, and Orthanc's DICOMweb behind it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from pacs.orthanc import OrthancServer
from tests.dicom_factory import write_mr_series
from viewer.app_config import app_config_js
from viewer.server import ViewerServer


def _get(url: str, accept: str | None = None, method: str = "GET") -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ohif"
    (folder / "codec").mkdir(parents=True)
    (folder / "index.html").write_text("<html>the OHIF app</html>")
    (folder / "codec" / "decode.wasm").write_bytes(b"\0asm\1\0\0\0")
    return folder


def test_static_app_routes_and_config(app_dir: Path) -> None:
    with ViewerServer(app_dir, "http://127.0.0.1:9/dicom-web") as server:
        status, headers, body = _get(server.url + "/")
        assert status == 200 and body == b"<html>the OHIF app</html>"
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        # OHIF's client-side routes are the app's index.html
        assert _get(server.study_url("1.2.3"))[2] == b"<html>the OHIF app</html>"
        status, headers, body = _get(server.url + "/codec/decode.wasm")
        assert status == 200 and headers["Content-Type"] == "application/wasm"
        status, headers, body = _get(server.url + "/app-config.js")
        assert status == 200 and body.decode() == app_config_js("/dicom-web")
        assert 'window.location.origin + "/dicom-web"' in body.decode()
        assert _get(server.url + "/index.html", method="POST")[0] == 405
        # Orthanc is not there: the proxy says so instead of hanging
        assert _get(server.url + "/dicom-web/studies")[0] == 502
    assert server.url.startswith("http://127.0.0.1:")
    written = app_dir.parent / "app-config.js"
    written.write_text("window.config = {};")
    with ViewerServer(app_dir, "http://127.0.0.1:9/dicom-web", app_config=written) as server:
        assert _get(server.url + "/app-config.js")[2] == b"window.config = {};"  # the file OHIF reads


def test_dicomweb_is_proxied_with_urls_that_point_back_at_the_viewer(app_dir: Path, tmp_path: Path) -> None:
    study = "1.2.826.0.1.3680043.8.498.77"
    write_mr_series(tmp_path / "in", study, slices=2)
    with OrthancServer(tmp_path / "orthanc") as orthanc, ViewerServer(app_dir, orthanc.dicomweb_url) as server:
        assert orthanc.upload_folder(tmp_path / "in") == 2
        status, headers, body = _get(server.url + "/dicom-web/studies", "application/dicom+json")
        assert status == 200 and headers["Content-Type"].startswith("application/dicom+json")
        [found] = json.loads(body)
        assert found["0020000D"]["Value"] == [study]
        # Orthanc builds its URLs from the Host header the proxy passes on: they lead back to this origin
        assert found["00081190"]["Value"][0].startswith(f"{server.url}/dicom-web/studies/{study}")
        series = json.loads(_get(f"{server.url}/dicom-web/studies/{study}/series")[2])
        metadata = json.loads(
            _get(f"{server.url}/dicom-web/studies/{study}/series/{series[0]['0020000E']['Value'][0]}/metadata")[2]
        )
        assert len(metadata) == 2
        frame_url = metadata[0]["7FE00010"]["BulkDataURI"]
        assert frame_url.startswith(server.url)
        status, headers, body = _get(frame_url, "multipart/related; type=application/octet-stream")
        assert status == 200 and headers["Content-Type"].startswith("multipart/related") and len(body) > 16 * 16 * 2
        assert _get(server.url + "/dicom-web/studies/9.9.9/metadata")[0] == 404  # answers pass through


def test_config_refuses_a_root_it_can_not_use() -> None:
    with pytest.raises(ValueError, match="expected a DICOMweb path like '/dicom-web', got 'dicom-web/'"):
        app_config_js("dicom-web/")
