"""The fast paths' level-2 table: placeholders for new keys, resolved in place; growth keeps entries."""

from __future__ import annotations

import numpy as np

from vmcli.translate.core.hashtable import HashTable, word_keys


def test_new_keys_get_placeholders_then_ids() -> None:
    table = HashTable(8)
    keys = np.array([[5, 1], [7, 0], [5, 1], [9, 9]], np.int64)
    found, unknown = table.probe(keys)
    assert unknown == 4 and (found == -1).all() and table.count == 0      # a probe changes nothing
    table.reserve(unknown)
    found, first_new = table.insert(keys)
    assert first_new.tolist() == [0, 1, 3] and found.tolist() == [-2, -3, -2, -4]
    table.resolve(found, np.array([100, 200, 300], np.int64))
    assert found.tolist() == [100, 200, 100, 300]
    again, unknown = table.probe(keys)
    assert unknown == 0 and again.tolist() == [100, 200, 100, 300]


def test_growth_keeps_every_entry() -> None:
    table = HashTable(4)
    words = np.arange(1000, 1100, dtype=np.uint32)
    table.reserve(len(words))
    found, first_new = table.insert(word_keys(words))
    table.resolve(found, np.arange(100, dtype=np.int64))
    assert len(table.used) >= 200 and table.count == 100
    table.reserve(1000)
    keys, ids = table.items()
    assert len(table.used) >= 2200 and sorted(zip(keys[:, 0].tolist(), ids.tolist(), strict=True)) == [
        (1000 + i, i) for i in range(100)]
    again, unknown = table.probe(word_keys(words))
    assert unknown == 0 and again.tolist() == list(range(100))
