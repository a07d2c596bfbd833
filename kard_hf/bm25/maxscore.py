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
looked up for the candidates left, each search starting where the passage would sit if the list
spread evenly over the slab.

A slab whose lists were all added whole is swept for the passages above the heap's worst score;
a dense slab's candidates are collected 64 passages at a time, compared at once (SIMD), looking
passage by passage only into the blocks that hold one. A slab with few postings notes the passages
they touch, so clearing it costs what it touched. An addition asks the memory for the postings 256
ahead of the one it adds, and for the first ones of the list it adds next (LLVM's prefetch), so lists
of a few thousand postings stream at the memory's speed. Every passage gets the same float32 additions in
the same term order as the numpy reference (``Index.exhaustive``), so results agree with it to the
bit; equal scores go by row, lower first. Compiled code is cached on disk (``cache=True``: an
environment compiles it once) and releases the GIL.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

SLAB = 1 << 16  # passages scored together (at most 2**16: offsets in a slab are 16-bit); their float32
# accumulator (256 KiB) stays in a core's L2 cache
PROBE_COST = 48  # looking a passage up in a posting list (a search from its interpolated place: unpredictable
# branches, a cache miss) costs about as much as adding this many postings (measured: docs/benchmarks.md)
SAMPLE = 64  # a dense slab estimates its candidates from every SAMPLE-th passage (an estimate per list added)
SWEEP_BLOCK = 64  # passages a dense slab's sweep or candidate collection compares at once
SPARSE = 4  # a slab with fewer than SLAB / SPARSE essential postings notes the passages they touch
AHEAD = 256  # postings an addition asks the memory for ahead of the one it adds (and the next list's first ones)


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask the memory for ``array[index]`` (LLVM's prefetch: a hint, never a fault, even past the end)."""
    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array_struct = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array_struct, [args[1]], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]), "llvm.prefetch.p0i8")
        # read, keep in every cache level, data
        builder.call(function, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()
    return types.void(array, index), codegen


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
        return _halve(docs, low + 1, min(low + step, high), row)
    return low


@njit(cache=True, nogil=True, inline="always")
def _halve(docs, low, high, row):
    """The first position in ``docs[low:high]`` holding ``row`` or more, known to be at most ``high``."""
    while low < high:
        middle = (low + high) // 2
        if docs[middle] < row:
            low = middle + 1
        else:
            high = middle
    return low


@njit(cache=True, nogil=True, inline="always")
def _find(docs, low, high, row, spread):
    """:func:`_first_at_least` from where ``row`` would sit if ``docs[low:high]`` spread evenly over the
    slab (``spread``: postings per passage): the first probe is a guess, not a chain of dependent misses."""
    guess = min(low + np.int64(row * spread), high - 1)
    if docs[guess] < row:
        return _first_at_least(docs, guess, high, row)
    step = 1  # gallop down, then halve
    while guess - step >= low and docs[guess - step] >= row:
        guess -= step
        step *= 2
    return _halve(docs, max(low, guess - step), guess, row)  # docs[guess] >= row


@njit(cache=True, nogil=True)
def _add(docs, scores, start, end, weight, acc, after):
    """Add ``weight`` times the postings ``start:end`` to the slab's ``acc``. The list is read from memory at
    its streaming speed only if asked for ahead (the hardware's own prefetch starts late on a list of a few
    thousand postings): so are the first postings of the list added ``after`` it (their position)."""
    for q in range(0, AHEAD, 32):  # a cache line holds 32 offsets, 16 scores
        _prefetch(docs, after + q)
        _prefetch(scores, after + q // 2)
        _prefetch(scores, after + AHEAD // 2 + q // 2)
    ahead_docs, ahead_scores = docs[start + AHEAD:], scores[start + AHEAD:]
    docs, scores = docs[start:end], scores[start:end]  # indices from 0 up: numba drops its negative-index test
    for p in range(len(docs)):
        if (p & 15) == 0:
            _prefetch(ahead_docs, p)
            _prefetch(ahead_scores, p)
        acc[docs[p]] += scores[p] * weight


@njit(cache=True, nogil=True)
def _add_noting(docs, scores, start, end, weight, acc, touched, reached):
    """:func:`_add`, also appending the passages reached for the first time to ``touched[reached:]``;
    returns their new count. (A loop of its own: this test in the dense loop doubles its cost.)"""
    docs, scores = docs[start:end], scores[start:end]
    for p in range(len(docs)):
        i = docs[p]
        value = scores[p] * weight
        before = acc[i]
        if before == 0.0 and value != 0.0:  # scores are >= 0: a touched passage has a sum > 0
            touched[reached] = i
            reached += 1
        acc[i] = before + value
    return reached


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
    else:  # candidates are rare: compare a block at once (SIMD), look only into blocks holding one
        cut = np.float32(theta - bar - 1e-6 * (abs(theta) + abs(bar)))  # below every value that passes
        for block in range(0, width, SWEEP_BLOCK):
            part = acc[block:min(block + SWEEP_BLOCK, width)]  # indices from 0: plain vector loads
            hits = 0
            for i in range(len(part)):
                hits += part[i] >= cut
            if hits:
                for i in range(len(part)):
                    value = part[i]
                    if value >= cut and value != 0.0 and value + bar >= theta:
                        candidates[found] = block + i
                        found += 1
    return found


@njit(cache=True, nogil=True)
def _sweep(acc, low, width, heap_scores, heap_rows, size, k):
    """Offer the heap the slab's passages (rows ``low:low + width``) that beat its worst (until it is full,
    those above 0), a block compared at once; return its new size. Rows ascend and exceed those in the
    heap, so beating its worst takes a higher score."""
    limit = heap_scores[0] if size == k else np.float32(0.0)
    for block in range(0, width, SWEEP_BLOCK):
        part = acc[block:min(block + SWEEP_BLOCK, width)]
        beats = 0
        for i in range(len(part)):
            beats += part[i] > limit
        if beats:
            for i in range(len(part)):
                if part[i] > limit:
                    size = _push(heap_scores, heap_rows, size, k, part[i], low + block + i)
                    if size == k:
                        limit = heap_scores[0]
    return size


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
        count = 0
        for t in range(essential):
            if sparse:
                count = _add_noting(docs, scores, cursor[t], stop[t], weights[t], acc, touched, count)
            else:
                _add(docs, scores, cursor[t], stop[t], weights[t], acc, cursor[min(t + 1, terms - 1)])
        # Non-essential lists are added whole while looking their candidates up would cost more; each one
        # added lowers the bar the others must reach, so the candidates thin out as they go. A list added
        # whole makes the slab dense: if all are, the slab is swept.
        first = essential  # the first list not added whole
        while first < terms and _reaching(acc, touched, count, high - low, sparse, remaining[first], theta) \
                * PROBE_COST >= stop[first] - cursor[first]:
            _add(docs, scores, cursor[first], stop[first], weights[first], acc, cursor[min(first + 1, terms - 1)])
            first, sparse = first + 1, False
        if first == terms and not sparse:  # every list added: rank the slab as it is swept
            size = _sweep(acc, low, high - low, heap_scores, heap_rows, size, k)
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
                    _add(docs, scores, start, end, weight, acc, cursor[min(u + 1, terms - 1)])
                    sparse = False
                    continue
                if end == start:
                    continue
                spread = (end - start) / (high - low)
                for j in range(found):
                    offset = candidates[j]
                    position = _find(docs, start, end, offset, spread)
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
