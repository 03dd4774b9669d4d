// Sentinel SDC probe kernels, compiled at run time by NVRTC (CuPy RawModule).
//
// Every block reads %smid and records it, so each result is attributed to the SM that computed
// it. Block placement cannot be chosen: the host launches several blocks per SM, skips SMs not
// selected for this run, and groups results by the recorded SM id. Per-SM arrays (selection,
// fault masks, claims) are sized by %nsmid, since SM ids need not be contiguous.
//
// Fault injection: or_mask/xor_mask/sfu_xor[smid] corrupt the results of that SM exactly as the
// CPU model does (stuck-at-1, flipped bit, 256-ULP transcendental error), so detection is
// verified on real hardware as well. Per-word faults (one lane, an operand trigger, a ULP
// error, a per-operation rate) go to the *_faults twins of the FMA, tensor-core and
// transcendental kernels, with the operations the host drew for them (see "Per-word faults").
//
// Repeated work must not be merged or folded by the compiler: inputs are kernel arguments,
// chains are data dependent, the hot operations are `asm volatile` and memory is accessed
// through volatile pointers. Check the SASS with `cuobjdump -sass` on a device
// (bench/gpu_probes.py does).

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define SKIPPED 0xFFFFFFFFu

__device__ __forceinline__ u32 sm_id() {
    u32 id;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
    return id;
}

__device__ __forceinline__ u32 nsm_id() {
    u32 n;
    asm volatile("mov.u32 %0, %%nsmid;" : "=r"(n));
    return n;
}

// Records the block's SM (or SKIPPED) and says whether the block should work.
__device__ __forceinline__ bool enter(const u8* selected, u32* block_sm, u32* sm) {
    *sm = sm_id();
    bool on = selected[*sm] != 0;
    if (threadIdx.x == 0) block_sm[blockIdx.x] = on ? *sm : SKIPPED;
    return on;
}

__device__ __forceinline__ u32 corrupt(u32 w, u32 sm, const u32* or_mask, const u32* xor_mask) {
    return (w | or_mask[sm]) ^ xor_mask[sm];
}

// Per-word faults: the host draws which operations each fault hits from the same random stream
// as the CPU model (faults.LiveFault) and hands the kernels a table of faults, FAULT_WORDS
// words each: OR, XOR and ADD applied to a hit result; the operand trigger (mask, value, and the
// float range [lo, hi) under FAULT_RANGE); flags. A fault that hits every operation is listed
// per SM in `always` (FAULT_LANE: only on lane (flags >> 8) & 31); the others are listed per
// chain, by step, in CSR form: chain k of slot s has events offsets[s * chains + k] up to the
// next, each a step and a fault. `slot_of[smid]` is the SM's slot, -1 for none.
// These functions are __host__ __device__ so that a host build checks them against the CPU
// model (tests/fleet/probes/test_kernel_faults.py).
#define FAULT_WORDS 8
#define FAULT_RANGE 1u
#define FAULT_LANE 2u
#define MAX_ALWAYS 4

__host__ __device__ __forceinline__ float bits_float(u32 w) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(w);
#else
    float f;
    __builtin_memcpy(&f, &w, 4);
    return f;
#endif
}

__host__ __device__ __forceinline__ u32 float_bits(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    u32 w;
    __builtin_memcpy(&w, &f, 4);
    return w;
#endif
}

// A float32's bits as an integer in the floats' order, -0 and +0 alike, NaNs past the
// infinities (so in no range, the bounds being numbers). The range trigger compares these, not
// floats: CuPy compiles with -ftz=true, under which a float comparison reads a subnormal operand
// as zero, and the model, on the host, does not.
__host__ __device__ __forceinline__ int ordered(u32 w) {
    const int magnitude = (int)(w & 0x7fffffffu);
    return (w >> 31) ? -magnitude : magnitude;
}

__host__ __device__ __forceinline__ bool triggers(const u32* f, u32 operand) {
    if ((operand & f[3]) != f[4]) return false;
    if (!(f[7] & FAULT_RANGE)) return true;
    const int v = ordered(operand);
    return v >= ordered(f[5]) && v < ordered(f[6]);
}

__host__ __device__ __forceinline__ u32 hit(const u32* f, u32 w) { return ((w | f[0]) ^ f[1]) + f[2]; }

// One chain's per-word faults in a run, walked step by step.
struct ChainFaults {
    const u32* table;
    const int* always;  // MAX_ALWAYS fault indices, -1 past the last
    const int* step;
    const int* fault;
    int next, end;      // this chain's events not yet reached
    u32 lane;
};

// The result `w` of operation `i`, which read `operand`, through the faults that hit it: those
// that hit every operation first, then the picked ones, in the host's order (as the CPU model).
__host__ __device__ __forceinline__ u32 chain_hits(ChainFaults& c, int i, u32 operand, u32 w) {
    for (int k = 0; k < MAX_ALWAYS && c.always[k] >= 0; ++k) {
        const u32* f = c.table + FAULT_WORDS * c.always[k];
        const bool lane_ok = !(f[7] & FAULT_LANE) || ((f[7] >> 8) & 31u) == c.lane;
        if (lane_ok && triggers(f, operand)) w = hit(f, w);
    }
    while (c.next < c.end && c.step[c.next] == i) {
        const u32* f = c.table + FAULT_WORDS * c.fault[c.next++];
        if (triggers(f, operand)) w = hit(f, w);
    }
    return w;
}

__host__ __device__ __forceinline__ ChainFaults chain_faults(const u32* table, const int* always,
                                                             const int* offsets,
                                                             const int* ev_step,
                                                             const int* ev_fault, int slot,
                                                             int chains, int chain, u32 lane) {
    const int k = slot * chains + chain;
    ChainFaults c = {table, always + slot * MAX_ALWAYS, ev_step, ev_fault,
                     offsets[k], offsets[k + 1], lane};
    return c;
}

__host__ __device__ __forceinline__ float fma_step(float x, float a, float b) {
#ifdef __CUDA_ARCH__
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(x) : "f"(a), "f"(b));
    return x;
#else
    return fmaf(x, a, b);  // correctly rounded, as fma.rn.f32
#endif
}

// `iters` fused multiply-adds of one chain through its per-word faults.
__host__ __device__ inline float fma_chain_faults(float x, float a, float b, int iters,
                                                  ChainFaults& c) {
    for (int i = 0; i < iters; ++i) {
        const float y = fma_step(x, a, b);
        x = bits_float(chain_hits(c, i, float_bits(x), float_bits(y)));
    }
    return x;
}

// The result words of one slot hit by the events the host listed (their triggers already
// applied), in the listed order.
__host__ __device__ inline void word_hits(u32* o, const u32* table, const int* offsets,
                                          const int* ev_word, const int* ev_fault, int slot) {
    for (int e = offsets[slot]; e < offsets[slot + 1]; ++e)
        o[ev_word[e]] = hit(table + FAULT_WORDS * ev_fault[e], o[ev_word[e]]);
}

// Discovery: which SM ids exist. A short spin keeps blocks resident so they spread over SMs.
extern "C" __global__ void sm_ids(u32* block_sm, u32* nsmid) {
    if (threadIdx.x == 0) {
        block_sm[blockIdx.x] = sm_id();
        if (blockIdx.x == 0) *nsmid = nsm_id();
    }
    long long start = clock64();
    while (clock64() - start < 20000) {
    }
}

// FMA: one dependent fused multiply-add chain per thread.
extern "C" __global__ void fma_probe(const float* x0, const float* a, const float* b, int iters,
                                     const u8* selected, const u32* or_mask, const u32* xor_mask,
                                     u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    const int lane = threadIdx.x;
    float x = x0[lane];
    const float av = a[lane], bv = b[lane];
    for (int i = 0; i < iters; ++i) {
        asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(x) : "f"(av), "f"(bv));
    }
    out[blockIdx.x * blockDim.x + lane] = corrupt(__float_as_uint(x), sm, or_mask, xor_mask);
}

// FMA with per-word faults: as fma_probe, each chain through the faults its SM's slot lists.
extern "C" __global__ void fma_probe_faults(const float* x0, const float* a, const float* b,
                                            int iters, const u8* selected, const u32* or_mask,
                                            const u32* xor_mask, const u32* table,
                                            const int* slot_of, const int* always,
                                            const int* offsets, const int* ev_step,
                                            const int* ev_fault, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    const int lane = threadIdx.x, slot = slot_of[sm];
    float x = x0[lane];
    const float av = a[lane], bv = b[lane];
    if (slot < 0) {
        for (int i = 0; i < iters; ++i) x = fma_step(x, av, bv);
    } else {
        ChainFaults c = chain_faults(table, always, offsets, ev_step, ev_fault, slot, blockDim.x,
                                     lane, lane & 31u);
        x = fma_chain_faults(x, av, bv, iters, c);
    }
    out[blockIdx.x * blockDim.x + lane] = corrupt(__float_as_uint(x), sm, or_mask, xor_mask);
}

// Tensor core: D = A(16x16, fp16) * B(16x8, fp16) + D (fp32), one warp per block, sm_80+.
// a and b are the fp16 bit patterns, row-major; c0 and out are 16x8 row-major.
// One thread's share of the m16n8k16 MMA: its A and B registers, and the four accumulators of
// D it holds, with their element indices (each is one chain of the CPU model).
struct TensorFrag {
    u32 a[4], b[2];
    float d[4];
    int e[4];
};

__device__ __forceinline__ TensorFrag tensor_load(const u16* a, const u16* b, const float* c0) {
    TensorFrag f;
    const int g = threadIdx.x >> 2, t = threadIdx.x & 3;
#define PACK(lo, hi) ((u32)(lo) | ((u32)(hi) << 16))
    f.a[0] = PACK(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]);
    f.a[1] = PACK(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]);
    f.a[2] = PACK(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]);
    f.a[3] = PACK(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9]);
    f.b[0] = PACK(b[(2 * t) * 8 + g], b[(2 * t + 1) * 8 + g]);
    f.b[1] = PACK(b[(2 * t + 8) * 8 + g], b[(2 * t + 9) * 8 + g]);
#undef PACK
    f.e[0] = g * 8 + 2 * t, f.e[1] = g * 8 + 2 * t + 1;
    f.e[2] = (g + 8) * 8 + 2 * t, f.e[3] = (g + 8) * 8 + 2 * t + 1;
#pragma unroll
    for (int k = 0; k < 4; ++k) f.d[k] = c0[f.e[k]];
    return f;
}

__device__ __forceinline__ void mma(TensorFrag& f) {
#if __CUDA_ARCH__ >= 800  // the host refuses older devices; this keeps the module compiling there
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(f.d[0]), "+f"(f.d[1]), "+f"(f.d[2]), "+f"(f.d[3])
        : "r"(f.a[0]), "r"(f.a[1]), "r"(f.a[2]), "r"(f.a[3]), "r"(f.b[0]), "r"(f.b[1]));
#endif
}

__device__ __forceinline__ void tensor_store(const TensorFrag& f, u32 sm, const u32* or_mask,
                                             const u32* xor_mask, u32* out) {
    u32* o = out + blockIdx.x * 128;
#pragma unroll
    for (int k = 0; k < 4; ++k) o[f.e[k]] = corrupt(__float_as_uint(f.d[k]), sm, or_mask, xor_mask);
}

extern "C" __global__ void tensor_probe(const u16* a, const u16* b, const float* c0, int iters,
                                        const u8* selected, const u32* or_mask,
                                        const u32* xor_mask, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    TensorFrag f = tensor_load(a, b, c0);
    for (int i = 0; i < iters; ++i) mma(f);
    tensor_store(f, sm, or_mask, xor_mask, out);
}

// Tensor core with per-word faults: each accumulator is a chain, hit after the MMA that
// computed it, its operand the value it held before.
extern "C" __global__ void tensor_probe_faults(const u16* a, const u16* b, const float* c0,
                                               int iters, const u8* selected, const u32* or_mask,
                                               const u32* xor_mask, const u32* table,
                                               const int* slot_of, const int* always,
                                               const int* offsets, const int* ev_step,
                                               const int* ev_fault, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    TensorFrag f = tensor_load(a, b, c0);
    const int slot = slot_of[sm];
    if (slot < 0) {
        for (int i = 0; i < iters; ++i) mma(f);
    } else {
        ChainFaults c[4];
#pragma unroll
        for (int k = 0; k < 4; ++k)
            c[k] = chain_faults(table, always, offsets, ev_step, ev_fault, slot, 128, f.e[k],
                                threadIdx.x);
        for (int i = 0; i < iters; ++i) {
            const float p[4] = {f.d[0], f.d[1], f.d[2], f.d[3]};
            mma(f);
#pragma unroll
            for (int k = 0; k < 4; ++k)
                f.d[k] = bits_float(chain_hits(c[k], i, float_bits(p[k]), float_bits(f.d[k])));
        }
    }
    tensor_store(f, sm, or_mask, xor_mask, out);
}

// Transcendental: sinf, cosf, expf, logf (the accurate library versions, not --use_fast_math).
__device__ __forceinline__ void transcendental_body(const float* xs, const float* xc,
                                                    const float* xe, const float* xl, int n,
                                                    u32 sm, const u32* or_mask,
                                                    const u32* xor_mask, const u32* sfu_xor,
                                                    u32* o) {
    const u32 bad = sfu_xor[sm];
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        o[i] = corrupt(__float_as_uint(sinf(xs[i])) ^ bad, sm, or_mask, xor_mask);
        o[n + i] = corrupt(__float_as_uint(cosf(xc[i])) ^ bad, sm, or_mask, xor_mask);
        o[2 * n + i] = corrupt(__float_as_uint(expf(xe[i])) ^ bad, sm, or_mask, xor_mask);
        o[3 * n + i] = corrupt(__float_as_uint(logf(xl[i])) ^ bad, sm, or_mask, xor_mask);
    }
}

extern "C" __global__ void transcendental_probe(const float* xs, const float* xc, const float* xe,
                                                const float* xl, int n, const u8* selected,
                                                const u32* or_mask, const u32* xor_mask,
                                                const u32* sfu_xor, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    u32* o = out + (size_t)blockIdx.x * 4 * n;
    transcendental_body(xs, xc, xe, xl, n, sm, or_mask, xor_mask, sfu_xor, o);
}

// Transcendental with per-word faults: the host knows each result's argument, so it lists the
// results hit (triggers already applied), slot s's at offsets[s] up to offsets[s + 1].
extern "C" __global__ void transcendental_probe_faults(
    const float* xs, const float* xc, const float* xe, const float* xl, int n,
    const u8* selected, const u32* or_mask, const u32* xor_mask, const u32* sfu_xor,
    const u32* table, const int* slot_of, const int* offsets, const int* ev_word,
    const int* ev_fault, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    u32* o = out + (size_t)blockIdx.x * 4 * n;
    transcendental_body(xs, xc, xe, xl, n, sm, or_mask, xor_mask, sfu_xor, o);
    __syncthreads();
    const int slot = slot_of[sm];
    if (threadIdx.x == 0 && slot >= 0) word_hits(o, table, offsets, ev_word, ev_fault, slot);
}

__device__ __forceinline__ u8 xtime(u8 x) { return (u8)((x << 1) ^ ((x >> 7) * 0x1b)); }

// AES-128: one block per thread; faults hit the state after round 5, as in the CPU model.
extern "C" __global__ void aes_probe(const u8* plain, int n, const u8* round_keys,
                                     const u8* sbox_in, const u8* selected, const u32* or_mask,
                                     const u32* xor_mask, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    __shared__ u8 sbox[256];
    for (int i = threadIdx.x; i < 256; i += blockDim.x) sbox[i] = sbox_in[i];
    __syncthreads();
    for (int blk = threadIdx.x; blk < n; blk += blockDim.x) {
        u8 s[16], t[16];
        for (int j = 0; j < 16; ++j) s[j] = plain[blk * 16 + j] ^ round_keys[j];
        for (int rnd = 1; rnd <= 10; ++rnd) {
            for (int c = 0; c < 4; ++c)
                for (int r = 0; r < 4; ++r) t[r + 4 * c] = sbox[s[r + 4 * ((c + r) & 3)]];
            for (int c = 0; c < 4; ++c) {
                u8 a0 = t[4 * c], a1 = t[4 * c + 1], a2 = t[4 * c + 2], a3 = t[4 * c + 3];
                if (rnd < 10) {
                    u8 x0 = xtime(a0), x1 = xtime(a1), x2 = xtime(a2), x3 = xtime(a3);
                    s[4 * c] = x0 ^ x1 ^ a1 ^ a2 ^ a3;
                    s[4 * c + 1] = a0 ^ x1 ^ x2 ^ a2 ^ a3;
                    s[4 * c + 2] = a0 ^ a1 ^ x2 ^ x3 ^ a3;
                    s[4 * c + 3] = x0 ^ a0 ^ a1 ^ a2 ^ x3;
                } else {
                    s[4 * c] = a0, s[4 * c + 1] = a1, s[4 * c + 2] = a2, s[4 * c + 3] = a3;
                }
            }
            for (int j = 0; j < 16; ++j) s[j] ^= round_keys[rnd * 16 + j];
            if (rnd == 5) {
                for (int w = 0; w < 4; ++w) {
                    u32 v = s[4 * w] | (s[4 * w + 1] << 8) | (s[4 * w + 2] << 16) |
                            ((u32)s[4 * w + 3] << 24);
                    v = corrupt(v, sm, or_mask, xor_mask);
                    for (int k = 0; k < 4; ++k) s[4 * w + k] = (u8)(v >> (8 * k));
                }
            }
        }
        u32* o = out + ((size_t)blockIdx.x * n + blk) * 4;
        for (int w = 0; w < 4; ++w)
            o[w] = s[4 * w] | (s[4 * w + 1] << 8) | (s[4 * w + 2] << 16) |
                   ((u32)s[4 * w + 3] << 24);
    }
}

// Block-wide sum of misread cells and OR of wrong bits, written as two words.
__device__ void report_cells(u32 bad, u32 bits, u32* out) {
    __shared__ u32 total_bad, total_bits;
    if (threadIdx.x == 0) total_bad = 0, total_bits = 0;
    __syncthreads();
    atomicAdd(&total_bad, bad);
    atomicOr(&total_bits, bits);
    __syncthreads();
    if (threadIdx.x == 0) out[blockIdx.x * 2] = total_bad, out[blockIdx.x * 2 + 1] = total_bits;
}

#define READ(cell, want)                                   \
    do {                                                   \
        u32 got = corrupt((cell), sm, or_mask, xor_mask);  \
        if (got != (want)) ++bad, bits |= got ^ (want);    \
    } while (0)

// Global memory: MATS+ (w0; up r0,w1; down r1,w0), then walking ones if asked, over this SM's
// slice. The first block on each selected SM claims the slice; later blocks there leave.
extern "C" __global__ void memory_probe(u32* mem, long long words, int walking, const int* rank,
                                        u32* claimed, const u8* selected, const u32* or_mask,
                                        const u32* xor_mask, u32* block_sm, u32* out) {
    __shared__ u32 first;
    u32 sm;
    bool on = enter(selected, block_sm, &sm);
    if (!on) return;
    if (threadIdx.x == 0) first = atomicExch(&claimed[sm], 1u) == 0;
    __syncthreads();
    if (!first) {
        if (threadIdx.x == 0) block_sm[blockIdx.x] = SKIPPED;
        return;
    }
    volatile u32* m = mem + (size_t)rank[sm] * words;
    u32 bad = 0, bits = 0;
    const long long step = blockDim.x;
    for (long long i = threadIdx.x; i < words; i += step) m[i] = 0u;
    __syncthreads();
    for (long long i = threadIdx.x; i < words; i += step) { READ(m[i], 0u); m[i] = ~0u; }
    __syncthreads();
    for (long long i = words - 1 - threadIdx.x; i >= 0; i -= step) { READ(m[i], ~0u); m[i] = 0u; }
    __syncthreads();
    for (int b = 0; walking && b < 32; ++b) {
        for (long long i = threadIdx.x; i < words; i += step) m[i] = 1u << b;
        __syncthreads();
        for (long long i = threadIdx.x; i < words; i += step) READ(m[i], 1u << b);
        __syncthreads();
    }
    report_cells(bad, bits, out);
}

// Shared memory: March C- (w0; up r0,w1; up r1,w0; down r0,w1; down r1,w0; r0) per background.
extern "C" __global__ void shared_probe(int words, int backgrounds, const u8* selected,
                                        const u32* or_mask, const u32* xor_mask, u32* block_sm,
                                        u32* out) {
    extern __shared__ u32 cells[];
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    volatile u32* m = cells;
    u32 bad = 0, bits = 0;
    const int step = blockDim.x, last = words - 1 - threadIdx.x;
    for (int k = 0; k < backgrounds; ++k) {
        const u32 zero = k == 0 ? 0u : 0x55555555u, one = ~zero;
        for (int i = threadIdx.x; i < words; i += step) m[i] = zero;
        __syncthreads();
        for (int i = threadIdx.x; i < words; i += step) { READ(m[i], zero); m[i] = one; }
        __syncthreads();
        for (int i = threadIdx.x; i < words; i += step) { READ(m[i], one); m[i] = zero; }
        __syncthreads();
        for (int i = last; i >= 0; i -= step) { READ(m[i], zero); m[i] = one; }
        __syncthreads();
        for (int i = last; i >= 0; i -= step) { READ(m[i], one); m[i] = zero; }
        __syncthreads();
        for (int i = threadIdx.x; i < words; i += step) READ(m[i], zero);
        __syncthreads();
    }
    report_cells(bad, bits, out);
}

// Register file: 72 live registers per thread hold known patterns, inverted 2 * iters times.
// One inversion per trip of a loop that is not unrolled: with two per trip, ptxas folded each
// pair of `not`s into a plain move (LOP3.LUT 0xcc, seen in the sm_90 SASS), so no bit toggled.
#define NREG 72
extern "C" __global__ void register_probe(const u32* patterns, int iters, const u8* selected,
                                          const u32* or_mask, const u32* xor_mask, u32* block_sm,
                                          u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    u32 r[NREG];
#pragma unroll
    for (int i = 0; i < NREG; ++i) r[i] = patterns[(i + threadIdx.x) % NREG];
#pragma unroll 1
    for (int it = 0; it < 2 * iters; ++it) {
#pragma unroll
        for (int i = 0; i < NREG; ++i) asm volatile("not.b32 %0, %0;" : "+r"(r[i]));
    }
    u32* o = out + ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * NREG;
#pragma unroll
    for (int i = 0; i < NREG; ++i) o[i] = corrupt(r[i], sm, or_mask, xor_mask);
}
