"""Videos and texts in CLIP's joint space, over a built dataset: `index` (each video as one unit
vector, cached per split), `search` (rank videos by a text query or by another video, "more like
this"; class-name recall@k and mAP), `zeroshot` (classify with CLIP text prompts, no training),
`video_embeddings` (a split's vectors: mean-pooled frames or an aligned run's `video_embedding`),
`metrics` + `evaluation` (CLIP4Clip's R@k / MdR / MnR table, class prompts and titles), `maps`
(t-SNE / UMAP maps of the videos and one video's frames) and `embedding_table` (a split's vectors
as one `.npz` / Parquet table). The commands are `vidcls_keras.search`, `vidcls_keras.zeroshot`,
`vidcls_keras.visualize` and `vidcls_keras.embed --dataset`."""
