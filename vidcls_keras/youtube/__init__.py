"""The Youtube Videos Dataset's videos: `video_list` (clean the CSV: which rows are videos, and
why the others are not) and `download` (fetch them with yt-dlp, checked, with a manifest). The
command is `vidcls_keras.download`."""
