"""Text -> video retrieval over a built dataset: `index` (each video as one unit vector, cached per
split), `search` (rank videos by a text query; class-name recall@k and mAP) and `zeroshot`
(classify with CLIP text prompts, no training). The commands are `vidcls_keras.search` and
`vidcls_keras.zeroshot`."""
