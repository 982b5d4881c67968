"""The fast paths' level-2 table in numba: a key of two int64 words -> a template id, by open
addressing in numpy arrays that both Python and the kernels read.

Lookups hand every unknown key a placeholder -(j + 2), j counting the new keys in order of first
appearance, and record where each first appears; the caller builds those templates (in Python,
once each) and resolve() puts their ids in place of the placeholders, in the table too. The
table stays at most half full. Imports numba: only the fast paths import this module.
"""

from __future__ import annotations

import numba
import numpy as np

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)


@numba.njit(cache=True)
def lookup(keys, hkeys, hval, hused, first_new, insert):
    """Each key's value. Unknown keys get a placeholder -(j + 2) and their first position is
    first_new[j]; without `insert` they are only counted (every occurrence, the table left as it
    was: the count bounds what an inserting call adds)."""
    n = len(keys)
    out = np.empty(n, np.int64)
    mask = len(hused) - 1
    nnew = 0
    for i in range(n):
        k1 = keys[i, 0]
        k2 = keys[i, 1]
        h = (np.uint64(k1) * _K1) ^ (np.uint64(k2) * _K2)
        s = np.int64(h >> np.uint64(32)) & mask
        while hused[s] and (hkeys[s, 0] != k1 or hkeys[s, 1] != k2):
            s = (s + 1) & mask
        if hused[s]:
            out[i] = hval[s]
        elif not insert:
            out[i] = -1
            nnew += 1
        else:
            hused[s] = True
            hkeys[s, 0] = k1
            hkeys[s, 1] = k2
            hval[s] = -(nnew + 2)
            first_new[nnew] = i
            out[i] = hval[s]
            nnew += 1
    return out, nnew


@numba.njit(cache=True)
def resolve(found, hval, hused, new_ids):
    """Replace the placeholders by the ids made for them (in the table too)."""
    for i in range(len(found)):
        v = found[i]
        if v <= -2:
            found[i] = new_ids[-v - 2]
    for s in range(len(hused)):
        if hused[s] and hval[s] <= -2:
            hval[s] = new_ids[-hval[s] - 2]


class HashTable:
    """(k1, k2) -> id; `size` slots to start with (a power of two), doubled as keys come."""

    def __init__(self, size: int) -> None:
        self.keys = np.zeros((size, 2), np.int64)
        self.vals = np.zeros(size, np.int64)
        self.used = np.zeros(size, np.bool_)
        self.count = 0

    def probe(self, keys: np.ndarray) -> tuple[np.ndarray, int]:
        """Each key's id (-1 when unknown) and how many are unknown (every occurrence); the table
        is left as it was."""
        first_new = np.empty(len(keys), np.int64)
        found, unknown = lookup(keys, self.keys, self.vals, self.used, first_new, False)
        return found, int(unknown)

    def reserve(self, new: int) -> None:
        """Room for `new` more keys (the table stays at most half full)."""
        if 2 * (self.count + new) > len(self.used):
            self._grow(2 * (self.count + new))

    def insert(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's id, placeholders for the new ones (reserve() room first); and the new keys'
        first positions in `keys`."""
        first_new = np.empty(len(keys), np.int64)
        found, nnew = lookup(keys, self.keys, self.vals, self.used, first_new, True)
        self.count += nnew
        return found, first_new[:nnew]

    def resolve(self, found: np.ndarray, new_ids: np.ndarray) -> None:
        resolve(found, self.vals, self.used, new_ids)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, ids) of every entry."""
        return self.keys[self.used], self.vals[self.used]

    def load(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Add entries (distinct keys, not in the table) with their ids."""
        self.reserve(len(ids))
        found, first_new = self.insert(keys)
        new_ids = np.empty(len(first_new), np.int64)
        new_ids[-found[first_new] - 2] = ids[first_new]
        self.resolve(found, new_ids)

    def _grow(self, want: int) -> None:
        """Rehash into a table of at least `want` slots."""
        size = len(self.used)
        while size < want:
            size *= 2
        keys, ids = self.keys[self.used].copy(), self.vals[self.used].copy()
        self.keys = np.zeros((size, 2), np.int64)
        self.vals = np.zeros(size, np.int64)
        self.used = np.zeros(size, np.bool_)
        self.count = 0
        if len(ids):
            self.load(keys, ids)


def word_keys(words: np.ndarray) -> np.ndarray:
    """One-word keys (AArch64 instruction words) as table keys: (word, 0)."""
    keys = np.zeros((len(words), 2), np.int64)
    keys[:, 0] = words
    return keys
