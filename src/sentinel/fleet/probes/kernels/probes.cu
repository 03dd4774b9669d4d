// Sentinel SDC probe kernels, compiled at run time by NVRTC (CuPy RawModule).
//
// Every block reads %smid and records it, so each result is attributed to the SM that computed
// it. Block placement cannot be chosen: the host launches several blocks per SM, skips SMs not
// selected for this run, and groups results by the recorded SM id. Per-SM arrays (selection,
// fault masks, claims) are sized by %nsmid, since SM ids need not be contiguous.
//
// Fault injection: or_mask/xor_mask/sfu_xor[smid] corrupt the results of that SM exactly as the
// CPU model does (stuck-at-1, flipped bit, 256-ULP transcendental error), so detection is
// verified on real hardware as well.
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

// Tensor core: D = A(16x16, fp16) * B(16x8, fp16) + D (fp32), one warp per block, sm_80+.
// a and b are the fp16 bit patterns, row-major; c0 and out are 16x8 row-major.
extern "C" __global__ void tensor_probe(const u16* a, const u16* b, const float* c0, int iters,
                                        const u8* selected, const u32* or_mask,
                                        const u32* xor_mask, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    const int g = threadIdx.x >> 2, t = threadIdx.x & 3;
#define PACK(lo, hi) ((u32)(lo) | ((u32)(hi) << 16))
    const u32 a0 = PACK(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]);
    const u32 a1 = PACK(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]);
    const u32 a2 = PACK(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]);
    const u32 a3 = PACK(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9]);
    const u32 b0 = PACK(b[(2 * t) * 8 + g], b[(2 * t + 1) * 8 + g]);
    const u32 b1 = PACK(b[(2 * t + 8) * 8 + g], b[(2 * t + 9) * 8 + g]);
#undef PACK
    float d0 = c0[g * 8 + 2 * t], d1 = c0[g * 8 + 2 * t + 1];
    float d2 = c0[(g + 8) * 8 + 2 * t], d3 = c0[(g + 8) * 8 + 2 * t + 1];
#if __CUDA_ARCH__ >= 800  // the host refuses older devices; this keeps the module compiling there
    for (int i = 0; i < iters; ++i) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
            "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
            : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
#endif
    u32* o = out + blockIdx.x * 128;
    o[g * 8 + 2 * t] = corrupt(__float_as_uint(d0), sm, or_mask, xor_mask);
    o[g * 8 + 2 * t + 1] = corrupt(__float_as_uint(d1), sm, or_mask, xor_mask);
    o[(g + 8) * 8 + 2 * t] = corrupt(__float_as_uint(d2), sm, or_mask, xor_mask);
    o[(g + 8) * 8 + 2 * t + 1] = corrupt(__float_as_uint(d3), sm, or_mask, xor_mask);
}

// Transcendental: sinf, cosf, expf, logf (the accurate library versions, not --use_fast_math).
extern "C" __global__ void transcendental_probe(const float* xs, const float* xc, const float* xe,
                                                const float* xl, int n, const u8* selected,
                                                const u32* or_mask, const u32* xor_mask,
                                                const u32* sfu_xor, u32* block_sm, u32* out) {
    u32 sm;
    if (!enter(selected, block_sm, &sm)) return;
    u32* o = out + (size_t)blockIdx.x * 4 * n;
    const u32 bad = sfu_xor[sm];
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        o[i] = corrupt(__float_as_uint(sinf(xs[i])) ^ bad, sm, or_mask, xor_mask);
        o[n + i] = corrupt(__float_as_uint(cosf(xc[i])) ^ bad, sm, or_mask, xor_mask);
        o[2 * n + i] = corrupt(__float_as_uint(expf(xe[i])) ^ bad, sm, or_mask, xor_mask);
        o[3 * n + i] = corrupt(__float_as_uint(logf(xl[i])) ^ bad, sm, or_mask, xor_mask);
    }
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
