"""The training corpus: audio windows with teacher or captured labels in memory-mappable shards.

``shards`` is the storage format every builder writes and every trainer reads.
"""
