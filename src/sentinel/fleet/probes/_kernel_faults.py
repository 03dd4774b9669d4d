"""Per-word faults as the GPU kernels take them (``kernels/probes.cu``, "Per-word faults").

The host draws each fault's operations from the fault's stream for the run, as the CPU model
does (``_chains.pick_operations`` for chains, ``LiveFault.words`` for single results), and
lists them per SM: the ``*_faults`` kernels only walk the lists. A GPU run and a model run of
the same fault hit the same operations, and the FMA chains end in the same words as the model's
fused chains (``Chain(fused=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sentinel.fleet.probes._chains import pick_operations
from sentinel.fleet.probes._types import FaultSpec
from sentinel.fleet.probes.faults import Corruption, effect
from sentinel.fleet.types import ProbeType

FAULT_WORDS = 8
FAULT_RANGE = 1
FAULT_LANE = 2
MAX_ALWAYS = 4
"""Faults per SM that hit every operation (no per-word rate) the chain kernels take."""
GPU_PROBES = frozenset({ProbeType.FMA, ProbeType.TENSOR_CORE, ProbeType.TRANSCENDENTAL})
"""The probes whose kernels have a ``_faults`` twin."""

_I32 = np.int32


def encode(spec: FaultSpec, *, sfu: bool) -> np.ndarray:
    """One row of the fault table: OR, XOR, ADD, trigger mask and value, range, flags."""
    row = np.zeros(FAULT_WORDS, np.uint32)
    row[0:3] = effect(spec, sfu=sfu)
    row[3], row[4] = spec.operand_mask, spec.operand_value
    flags = 0
    if spec.operand_range is not None:
        flags |= FAULT_RANGE
        row[5:7] = np.array(spec.operand_range, np.float32).view(np.uint32)
    if spec.lane is not None:
        flags |= FAULT_LANE | spec.lane << 8
    row[7] = flags
    return row


@dataclass(frozen=True)
class FaultTables:
    """One run's per-word faults for a ``*_faults`` kernel."""

    table: np.ndarray
    """(faults, FAULT_WORDS) uint32."""
    slot_of: np.ndarray
    """%smid -> slot, -1 for an SM with no per-word fault."""
    always: np.ndarray
    """(slots, MAX_ALWAYS) fault indices, -1 past the last: faults that hit every operation."""
    offsets: np.ndarray
    """CSR offsets into the events: per (slot, chain) for chains, per slot for results."""
    at: np.ndarray
    """Each event's step (chains) or result word (transcendental)."""
    fault: np.ndarray
    """Each event's row in ``table``."""

    def chain_args(self) -> tuple[np.ndarray, ...]:
        """The arguments of ``fma_probe_faults`` and ``tensor_probe_faults``, in order."""
        return self.table, self.slot_of, self.always, self.offsets, self.at, self.fault

    def word_args(self) -> tuple[np.ndarray, ...]:
        """The arguments of ``transcendental_probe_faults``, in order."""
        return self.table, self.slot_of, self.offsets, self.at, self.fault


def chain_tables(
    corruption: Corruption,
    sms: list[int],
    smids: list[int],
    nsmid: int,
    lanes: np.ndarray,
    steps: int,
) -> FaultTables | None:
    """The faults of the chain probes' SMs ``sms`` (dense ids, ``smids`` their %smid), chains
    on warp ``lanes``, ``steps`` steps each; ``None`` when none of them has a per-word fault."""
    chains = len(lanes)
    table: list[np.ndarray] = []
    slot_of = np.full(nsmid, -1, _I32)
    always: list[list[int]] = []
    events: list[tuple[np.ndarray, ...]] = []  # (slot * chains + chain, step, fault)
    for sm, smid in zip(sms, smids, strict=True):
        if not (faults := corruption.on(sm)):
            continue
        slot = len(always)
        every: list[int] = []
        slot_of[smid] = slot
        for fault in faults:
            index = len(table)
            table.append(encode(fault.spec, sfu=False))
            if (picked := pick_operations(fault, lanes, steps)) is None:
                continue
            _, at, chain = picked
            if at is None or chain is None:
                every.append(index)
            else:
                events.append((slot * chains + chain, at, np.full(at.size, index)))
        if len(every) > MAX_ALWAYS:
            raise ValueError(
                f"SM {sm} has {len(every)} faults on every operation; at most {MAX_ALWAYS}"
            )
        always.append(every + [-1] * (MAX_ALWAYS - len(every)))
    if not always:
        return None
    none = np.zeros(0, np.int64)
    key, at, which = (np.concatenate([e[i] for e in events] + [none]) for i in range(3))
    order = np.lexsort((which, at, key))  # by chain, then step, then the host's fault order
    return FaultTables(
        np.stack(table),
        slot_of,
        np.array(always, _I32),
        np.searchsorted(key[order], np.arange(len(always) * chains + 1)).astype(_I32),
        _padded(at[order]),
        _padded(which[order]),
    )


def word_tables(
    corruption: Corruption, sms: list[int], smids: list[int], nsmid: int, operands: np.ndarray
) -> FaultTables | None:
    """The faults of the transcendental results of SMs ``sms``, each result having read
    ``operands`` (uint32, one per result word); triggers are applied here, so each event is
    a hit."""
    table: list[np.ndarray] = []
    slot_of = np.full(nsmid, -1, _I32)
    words: list[np.ndarray] = []
    faults: list[np.ndarray] = []
    offsets = [0]
    for sm, smid in zip(sms, smids, strict=True):
        if not (found := corruption.on(sm)):
            continue
        slot_of[smid] = len(offsets) - 1
        count = 0
        for fault in found:  # all of one fault's hits, then the next's, as the model
            hit = fault.words(operands)
            words.append(hit)
            faults.append(np.full(hit.size, len(table)))
            table.append(encode(fault.spec, sfu=True))
            count += hit.size
        offsets.append(offsets[-1] + count)
    if len(offsets) == 1:
        return None
    return FaultTables(
        np.stack(table),
        slot_of,
        np.full((len(offsets) - 1, MAX_ALWAYS), -1, _I32),
        np.array(offsets, _I32),
        _padded(np.concatenate(words)),
        _padded(np.concatenate(faults)),
    )


def _padded(values: np.ndarray) -> np.ndarray:
    """``values`` as int32, with one unused element so that no kernel argument is empty."""
    return np.append(values, 0).astype(_I32)
