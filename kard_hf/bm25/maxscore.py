"""The exact top-k search of :class:`~kard_hf.bm25.index.Index`, compiled with numba.

MaxScore over slabs of passages. The index stores each posting's passage as a 16-bit offset in its
slab and, per term, a directory of the slabs its list reaches (``index.py``), so a slab's part of a
list is found without a search. Query terms come in scoring order (decreasing upper bound);
``remaining[t]`` bounds what terms ``t...`` can add to a passage. The corpus is scored one slab at a
time, so the float32 accumulator stays in a core's cache, and one top-k heap runs across the slabs.
Once it is full, its worst score ``theta`` is a lower bound of the final k-th score: the terms whose
remaining bound is below it are *non-essential* (a passage that matches only those cannot enter the
top k). In each slab the essential lists are added whole, then the non-essential ones in order: each
is added whole while looking up the passages that can still reach ``theta`` would cost more, and
every list added lowers the bar the others must reach, so the candidates thin out; the rest are
looked up for the candidates left, by galloping search.

Every addition notes the passages whose sum crosses the heap's worst score, so a slab whose lists
were all added whole ranks just those (no pass over the slab); until the heap is full a slab is
swept. A slab with few postings notes the passages they touch, so clearing it costs what it
touched. Every passage gets the same float32 additions in the same term order as the numpy
reference (``Index.exhaustive``), so results agree with it to the bit; equal scores go by row,
lower first. Compiled code is cached on disk (``cache=True``: an environment compiles it once) and
releases the GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SLAB = 1 << 16  # passages scored together (at most 2**16: offsets in a slab are 16-bit); their float32
# accumulator (256 KiB) stays in a core's L2 cache
PROBE_COST = 32  # looking a passage up in a posting list (a galloping search: unpredictable branches) costs
# about as much as adding this many postings (measured: benchmarks in docs/knowledge.md)
SAMPLE = 64  # a dense slab estimates its candidates from every SAMPLE-th passage (an estimate per list added)
SWEEP_BLOCK = 64  # passages a dense slab's sweep compares with the heap at once
SPARSE = 4  # a slab with fewer than SLAB / SPARSE essential postings notes the passages they touch


@njit(cache=True, nogil=True, inline="always")
def _worse(score_a, row_a, score_b, row_b):
    """Whether ``(score_a, row_a)`` ranks below ``(score_b, row_b)``: lower score, or equal and higher row."""
    return score_a < score_b or (score_a == score_b and row_a > row_b)


@njit(cache=True, nogil=True)
def _sift_down(heap_scores, heap_rows, size, i):
    """Restore the heap (the worst kept entry at the root) below position ``i``."""
    while True:
        worst, left = i, 2 * i + 1
        if left < size and _worse(heap_scores[left], heap_rows[left], heap_scores[worst], heap_rows[worst]):
            worst = left
        if left + 1 < size and _worse(heap_scores[left + 1], heap_rows[left + 1], heap_scores[worst],
                                      heap_rows[worst]):
            worst = left + 1
        if worst == i:
            return
        heap_scores[i], heap_scores[worst] = heap_scores[worst], heap_scores[i]
        heap_rows[i], heap_rows[worst] = heap_rows[worst], heap_rows[i]
        i = worst


@njit(cache=True, nogil=True)
def _push(heap_scores, heap_rows, size, k, score, row):
    """Offer ``(score, row)`` to the heap of the ``k`` best; return its new size."""
    if size < k:
        j = size
        while j > 0:
            parent = (j - 1) // 2
            if not _worse(score, row, heap_scores[parent], heap_rows[parent]):
                break
            heap_scores[j], heap_rows[j] = heap_scores[parent], heap_rows[parent]
            j = parent
        heap_scores[j], heap_rows[j] = score, row
        return size + 1
    if _worse(heap_scores[0], heap_rows[0], score, row):
        heap_scores[0], heap_rows[0] = score, row
        _sift_down(heap_scores, heap_rows, size, 0)
    return size


@njit(cache=True, nogil=True, inline="always")
def _first_at_least(docs, low, high, row):
    """The first position in ``docs[low:high]`` (ascending) holding ``row`` or more (``high`` if none)."""
    step = 1  # gallop, then halve: costs the log of the distance, not of the list
    while low + step < high and docs[low + step] < row:
        low += step
        step *= 2
    if low < high and docs[low] < row:
        high = min(low + step, high)
        low += 1
        while low < high:
            middle = (low + high) // 2
            if docs[middle] < row:
                low = middle + 1
            else:
                high = middle
    return low


@njit(cache=True, nogil=True)
def _add(docs, scores, start, end, weight, acc, limit, crossed, count):
    """Add ``weight`` times the postings ``start:end`` to the slab's ``acc``, appending to
    ``crossed[count:]`` the passages whose sum passes ``limit`` (sums only grow: each passes once);
    returns the new count."""
    docs, scores = docs[start:end], scores[start:end]  # indices from 0 up: numba drops its negative-index test
    for p in range(len(docs)):
        i = docs[p]
        before = acc[i]
        value = before + scores[p] * weight
        acc[i] = value
        if value > limit and before <= limit:  # rare once the heap is full: the branch is predicted
            crossed[count] = i
            count += 1
    return count


@njit(cache=True, nogil=True)
def _add_noting(docs, scores, start, end, weight, acc, limit, crossed, count, touched, reached):
    """:func:`_add`, also appending the passages reached for the first time to ``touched[reached:]``;
    returns both counts. (A loop of its own: this test in the dense loop doubles its cost.)"""
    docs, scores = docs[start:end], scores[start:end]
    for p in range(len(docs)):
        i = docs[p]
        value = scores[p] * weight
        before = acc[i]
        if before == 0.0 and value != 0.0:  # scores are >= 0: a touched passage has a sum > 0
            touched[reached] = i
            reached += 1
        total = before + value
        acc[i] = total
        if total > limit and before <= limit:
            crossed[count] = i
            count += 1
    return count, reached


@njit(cache=True, nogil=True)
def _reaching(acc, touched, count, width, sparse, bar, theta):
    """About how many scored passages of the slab can reach ``theta`` with ``bar`` more."""
    reaching = 0
    if sparse:
        for j in range(count):
            reaching += acc[touched[j]] + bar >= theta
    else:  # an estimate from every SAMPLE-th passage: it only chooses between two exact ways
        for i in range(0, width, SAMPLE):
            reaching += (acc[i] != 0.0) & (acc[i] + bar >= theta)
        reaching *= SAMPLE
    return reaching


@njit(cache=True, nogil=True)
def _collect(acc, touched, count, width, sparse, bar, theta, candidates):
    """Write to ``candidates`` the slab offsets of the scored passages that can reach ``theta``
    with ``bar`` more; return how many."""
    found = 0
    if sparse:
        for j in range(count):
            candidates[found] = touched[j]
            found += acc[touched[j]] + bar >= theta
    else:
        for i in range(width):
            value = acc[i]
            if value + bar >= theta:  # rarely true once theta is known
                candidates[found] = i
                found += value != 0.0
    return found


@njit(cache=True, nogil=True)
def search(offsets, slab_offsets, slab_numbers, slab_starts, docs, scores, ids, weights, remaining, k, num_docs,
           slab):
    """Top ``k`` ``(rows, scores)``, best first, of the query ``ids`` / ``weights`` (in scoring order;
    ``remaining`` has one more entry, 0). ``k`` is at most ``num_docs``; ``slab``: the index's slab size.
    Term ``t``'s list reaches the slabs ``slab_numbers[slab_offsets[t]:slab_offsets[t + 1]]`` (ascending);
    each entry's postings start ``slab_starts[e]`` after ``offsets[t]``."""
    terms = len(ids)
    entry = np.empty(terms, np.int64)  # each list's next slab entry
    cursor = np.empty(terms, np.int64)  # each list's postings in the current slab: cursor:stop
    stop = np.empty(terms, np.int64)
    for t in range(terms):
        entry[t] = slab_offsets[ids[t]]
    acc = np.zeros(slab, np.float32)
    touched = np.empty(slab, np.int32)
    crossed = np.empty(slab, np.int32)
    candidates = np.empty(slab, np.int32)
    heap_scores = np.empty(k, np.float32)
    heap_rows = np.empty(k, np.int64)
    size = 0
    theta = -np.inf
    essential = terms
    for number, low in enumerate(range(0, num_docs, slab)):
        high = min(low + slab, num_docs)
        while essential > 0 and remaining[essential - 1] < theta:
            essential -= 1
        if essential == 0:  # no passage from here on can enter the top k
            break
        postings = 0
        for t in range(terms):
            term, e = ids[t], entry[t]
            cursor[t] = stop[t] = 0
            if e < slab_offsets[term + 1] and slab_numbers[e] == number:
                cursor[t] = offsets[term] + slab_starts[e]
                stop[t] = offsets[term + 1] if e + 1 == slab_offsets[term + 1] else offsets[term] + slab_starts[e + 1]
                entry[t] = e + 1
            if t < essential:
                postings += stop[t] - cursor[t]
        sparse = postings * SPARSE < high - low
        # Passages whose sum passes the heap's worst score, noted as postings are added whole: once the
        # heap is full, the only ones of a fully added slab that can enter it.
        limit = heap_scores[0] if size == k else np.float32(np.inf)
        count = crossings = 0
        for t in range(essential):
            if sparse:
                crossings, count = _add_noting(docs, scores, cursor[t], stop[t], weights[t], acc, limit, crossed,
                                               crossings, touched, count)
            else:
                crossings = _add(docs, scores, cursor[t], stop[t], weights[t], acc, limit, crossed, crossings)
        # Non-essential lists are added whole while looking their candidates up would cost more; each one
        # added lowers the bar the others must reach, so the candidates thin out as they go. A list added
        # whole makes the slab dense: if all are, it is ranked from its crossings.
        first = essential  # the first list not added whole
        while first < terms and _reaching(acc, touched, count, high - low, sparse, remaining[first], theta) \
                * PROBE_COST >= stop[first] - cursor[first]:
            crossings = _add(docs, scores, cursor[first], stop[first], weights[first], acc, limit, crossed, crossings)
            first, sparse = first + 1, False
        if first == terms and not sparse and size == k:  # every list added: rank the passages that crossed
            for j in range(crossings):
                i = crossed[j]
                size = _push(heap_scores, heap_rows, size, k, acc[i], low + i)
            acc[:high - low] = 0.0
        elif first == terms and not sparse:  # the heap is not full yet: rank the slab as it is swept
            # Rows ascend and exceed those in the heap, so beating its worst takes a higher score;
            # until it is full, a score above 0.
            limit = np.float32(0.0)
            for block in range(low, high, SWEEP_BLOCK):
                end = min(block + SWEEP_BLOCK, high) - low
                beats = False
                for i in range(block - low, end):  # vectorized: is any of the block above the limit?
                    beats |= acc[i] > limit
                if beats:
                    for i in range(block - low, end):
                        if acc[i] > limit:
                            size = _push(heap_scores, heap_rows, size, k, acc[i], low + i)
                            if size == k:
                                limit = heap_scores[0]
            acc[:high - low] = 0.0
        else:
            found = _collect(acc, touched, count, high - low, sparse, remaining[first], theta, candidates)
            for u in range(first, terms):  # the other lists, for the candidates only where that is cheaper
                start, end, weight = cursor[u], stop[u], weights[u]
                bar, kept = remaining[u], 0
                for j in range(found):  # drop those that cannot reach theta any more
                    candidates[kept] = candidates[j]
                    kept += acc[candidates[j]] + bar >= theta
                found = kept
                if found * PROBE_COST >= end - start:
                    _add(docs, scores, start, end, weight, acc, np.float32(np.inf), crossed, 0)
                    sparse = False
                    continue
                position, previous = start, -1
                for j in range(found):
                    offset = candidates[j]
                    position = _first_at_least(docs, position if offset > previous else start, end, offset)
                    previous = offset
                    if position < end and docs[position] == offset:
                        acc[offset] += scores[position] * weight
            for j in range(found):
                value, row = acc[candidates[j]], low + candidates[j]
                if size < k or _worse(heap_scores[0], heap_rows[0], value, row):
                    size = _push(heap_scores, heap_rows, size, k, value, row)
            if sparse:
                for j in range(count):
                    acc[touched[j]] = 0.0
            else:
                acc[:high - low] = 0.0
        if size == k:
            theta = heap_scores[0]
    rows = np.empty(k, np.int64)
    values = np.zeros(k, np.float32)
    for i in range(size - 1, -1, -1):  # pop the worst first: the best end up in front
        rows[i], values[i] = heap_rows[0], heap_scores[0]
        heap_scores[0], heap_rows[0] = heap_scores[i], heap_rows[i]
        _sift_down(heap_scores, heap_rows, i, 0)
    # Fewer than k passages scored above 0 (the heap was never full, so it holds all of them):
    # the rest of the top k are the lowest other rows, score 0.
    taken = np.sort(rows[:size])
    row = j = 0
    for i in range(size, k):
        while j < size and taken[j] == row:
            row += 1
            j += 1
        rows[i] = row
        row += 1
    return rows, values


@njit(cache=True, nogil=True)
def score_rows(offsets, slab_offsets, slab_numbers, slab_starts, docs, scores, ids, weights, rows, slab):
    """The float32 score of each of ``rows`` (ascending) for the query ``ids`` / ``weights``, term by term
    in that order as :func:`search` adds them; each row is looked up in its slab's part of each list."""
    total = np.zeros(len(rows), np.float32)
    for t in range(len(ids)):
        term, weight = ids[t], weights[t]
        e, last = slab_offsets[term], slab_offsets[term + 1]
        for j in range(len(rows)):
            number = rows[j] // slab
            while e < last and slab_numbers[e] < number:
                e += 1
            if e == last:
                break
            if slab_numbers[e] == number:
                start = offsets[term] + slab_starts[e]
                end = offsets[term + 1] if e + 1 == last else offsets[term] + slab_starts[e + 1]
                offset = rows[j] - number * slab
                position = _first_at_least(docs, start, end, offset)
                if position < end and docs[position] == offset:
                    total[j] += scores[position] * weight
    return total
