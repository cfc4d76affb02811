"""Tests for vidcls_keras.youtube.video_list (cleaning the dataset CSV).

Checked on the real dataset CSV (against ../shared/data/README.md) and on a small synthetic CSV.
"""

import pytest
from support import write_youtube_csv

from vidcls_keras.errors import VidclsError
from vidcls_keras.youtube import video_list
from vidcls_keras.youtube.video_list import CsvFormatError, read_video_list, url_video_id

# ----------------------------------------------------------------------------- CSV cleaning


def test_real_csv_counts_match_the_readme(youtube_csv):
    entries, report = read_video_list(youtube_csv)

    # Figures stated in ../shared/data/README.md.
    assert report.rows_read == 3599
    assert report.name_errors == 63
    assert report.eleven_char_links == 2102
    assert report.distinct_links == 3432
    assert report.exact_duplicates == 99
    assert report.rows_after_dedup == 3500
    assert report.categories_read == {"travel": 1156, "art_music": 947, "food": 903, "history": 593}
    assert report.url_links == 0

    # Every row left after dedup is accounted for: an entry, a repeat of one, or rejected.
    assert len(entries) + report.repeated_ids + len(report.rejected) == report.rows_after_dedup
    assert len({entry.video_id for entry in entries}) == len(entries)
    assert all(video_list.YOUTUBE_ID_PATTERN.fullmatch(entry.video_id) for entry in entries)
    # Ids listed under two categories are excluded; this one is food and travel in the CSV.
    assert report.ambiguous_ids["kMwMTKh5jfM"] == ("food", "travel")
    assert not set(report.ambiguous_ids) & {entry.video_id for entry in entries}
    assert sum(report.categories_kept.values()) == len(entries)
    text = report.format()
    assert "3,599 data rows" in text and "99" in text


SYNTHETIC_ROWS = [
    # (link, title, description, category)
    (
        "i9E_Blai8vk",
        "Welcome to Bali",
        'Priscilla Lee\n45.6K subscribers\nSUBSCRIBE\nsays "hi", then, commas\nSHOW MORE',
        "travel",
    ),
    ("#NAME?", "Street food", "a spreadsheet ate the id", "food"),
    ("JLZlCZ0", "Ep 1 | Arunachal", "scraper cut 4 characters", "travel"),
    (
        "i9E_Blai8vk",
        "Welcome to Bali",
        'Priscilla Lee\n45.6K subscribers\nSUBSCRIBE\nsays "hi", then, commas\nSHOW MORE',
        "travel",
    ),  # exact duplicate of the first row
    ("_lcOX55Ef70", "नमस्ते भारत 東京 🍜", "Описание\nв две строки", "food"),
    ("_lcOX55Ef70", "नमस्ते भारत 東京 🍜 (re-upload)", "other text", "food"),
    ("kMwMTKh5jfM", "Market tour", "", "food"),
    ("kMwMTKh5jfM", "Market tour", "", "travel"),
    ("https://example.invalid/clips/My Clip.mp4", "a direct link", "", "history"),
    ("-abc_DEF-12", "id starting with a dash", "", "art_music"),
    ("i9E_Blai8vk!", "twelve characters", "", "travel"),
    ("Qmi-Xwq-ME1", "bad category", "", "art music/x"),
]


def test_synthetic_csv_cleaning(tmp_path):
    csv_path = write_youtube_csv(tmp_path / "list.csv", SYNTHETIC_ROWS)
    entries, report = read_video_list(csv_path)

    direct = "https://example.invalid/clips/My Clip.mp4"
    assert [(e.video_id, e.category, e.csv_row) for e in entries] == [
        ("i9E_Blai8vk", "travel", 1),
        ("_lcOX55Ef70", "food", 5),
        (url_video_id(direct), "history", 9),
        ("-abc_DEF-12", "art_music", 10),
    ]
    assert entries[0].url == "https://www.youtube.com/watch?v=i9E_Blai8vk"
    assert entries[1].title == "नमस्ते भारत 東京 🍜"  # first row of a repeated id is kept
    assert entries[2].url == direct
    assert report.rows_read == 12
    assert report.exact_duplicates == 1
    assert report.rows_after_dedup == 11
    assert report.name_errors == 1
    assert report.url_links == 1
    assert report.eleven_char_links == sum(len(row[0]) == 11 for row in SYNTHETIC_ROWS) == 8
    assert report.repeated_ids == 1
    assert report.ambiguous_ids == {"kMwMTKh5jfM": ("food", "travel")}
    assert report.rejected_counts() == {
        "name_error": 1,
        "bad_id": 2,
        "ambiguous_category": 2,
        "bad_category": 1,
    }
    assert [row.csv_row for row in report.rejected] == [2, 3, 7, 8, 11, 12]
    assert "4 characters" not in report.rejected[1].reason  # it states the real length
    assert "7 characters" in report.rejected[1].reason
    assert report.categories_kept == {"travel": 1, "food": 1, "history": 1, "art_music": 1}


def test_csv_without_required_column_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("video,title\nabc,def\n", encoding="utf-8")
    with pytest.raises(CsvFormatError, match="link,title,description,category"):
        read_video_list(path)


def test_csv_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "link,title,description,category\ni9E_Blai8vk,caf\xe9,,food\n".encode("latin-1")
    )
    with pytest.raises(CsvFormatError, match="UTF-8"):
        read_video_list(path)


def test_rows_with_the_wrong_number_of_fields_are_rejected_not_guessed(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text(
        "link,title,description,category\n"
        "i9E_Blai8vk,a title, with a comma unquoted,desc,travel\n"
        "_lcOX55Ef70,only two\n"
        '-abc_DEF-12,fine,"quoted, with comma",food\n',
        encoding="utf-8",
    )
    entries, report = read_video_list(path)
    assert [entry.video_id for entry in entries] == ["-abc_DEF-12"]
    assert [(row.csv_row, row.kind) for row in report.rejected] == [
        (1, "malformed_row"),
        (2, "malformed_row"),
    ]


def test_url_ids_are_stable_safe_and_never_youtube_ids():
    url = "https://example.org/a/Vid%C3%A9o clip (1).mp4?x=1"
    video_id = url_video_id(url)
    assert video_id == url_video_id(url)
    assert video_id != url_video_id(url + "&y=2")
    assert video_id.startswith("Vid-o-clip-1-")
    assert len(video_id) > 11 and all(c.isalnum() or c in "_-" for c in video_id)
    assert url_video_id("http://example.org/").startswith("url-")


def test_csv_format_error_is_a_user_error():
    assert issubclass(CsvFormatError, VidclsError)
