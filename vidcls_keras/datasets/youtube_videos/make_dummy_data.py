"""Writes `dummy_data/` for the builder test: a small `youtube.csv` and tiny MP4s for it.

    python -m vidcls_keras.datasets.youtube_videos.make_dummy_data

Layout as `python -m vidcls_keras.download` leaves it: `videos/<category>/<id>.mp4`. The CSV
lists 2 videos per category that are on disk, 1 that is not (reported as missing), a
`#NAME?` row and a duplicate row (both removed by the CSV cleaning).
"""

import csv
import pathlib

from vidcls_keras.datasets.video_folder.make_dummy_data import write_clip  # the same clips

DUMMY_DATA = pathlib.Path(__file__).resolve().parent / "dummy_data"
COLOURS = {  # BGR background per category
    "food": (40, 120, 220),
    "art_music": (200, 60, 160),
    "travel": (200, 160, 40),
    "history": (90, 90, 90),
}
MISSING_ID = "trav0000009"


def main() -> None:
    rows = [("link", "title", "description", "category")]
    for category, colour in COLOURS.items():
        for number in (1, 2):
            video_id = f"{category[:4]}{number:07d}"  # 11 characters, like a YouTube id
            title = f"{category} clip {number}"
            rows.append((video_id, title, f"Dummy\nmulti-line description {number}", category))
            path = DUMMY_DATA / "videos" / category / f"{video_id}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_clip(path, colour, 6 + 3 * number)
    rows.append((MISSING_ID, "never downloaded", "listed, not on disk", "travel"))
    rows.append(("#NAME?", "spreadsheet artefact", "", "food"))
    rows.append(rows[1])  # exact duplicate
    with open(DUMMY_DATA / "youtube.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


if __name__ == "__main__":
    main()
