"""ccrefine: Common Crawl archives to a RefinedWeb-style pretraining corpus, and the stack that trains on it.

The repository keeps one top-level folder per package (pipelines/, transforms/, model/, trainer/, eval/); setup.py
installs each of them under this namespace (`ccrefine.transforms`, ...), so installing ccrefine never puts a bare
`model` or `eval` package into site-packages. This folder itself holds only what every package may import:
`ccrefine.errors`.
"""
