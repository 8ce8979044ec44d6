/* The machine's own arithmetic peak on one core, for the "fraction of the
 * limit" column of bench/bench_engine.sh: a loop of independent AVX2 FMAs
 * and one of AVX-512 FMAs where the CPU has them (fp32 GFLOP/s, 2 per
 * multiply-add; a core with a full 512-bit datapath, such as Zen 5, does
 * twice AVX2's rate, one that splits zmm in halves, such as Zen 4, the
 * same), AVX-512 BF16's vdpbf16ps (2 products per fp32 lane) where the CPU
 * has it, the AVX2 int8 dot product oneDNN uses
 * without VNNI (vpmaddubsw + vpmaddwd + vpaddd: 32 u8 x s8 products per
 * three instructions), and AVX-512 VNNI (vpdpbusd, 64 products per
 * instruction) where the CPU has it. Prints one JSON object.
 * Timed in thread CPU seconds, so a shared machine still shows the core's
 * limit. Build: cc -O2 bench/peak.c -o peak (the kernels carry their own target). */
#include <immintrin.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: the machine may be shared */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define REPS 20000000L

/* Written out (no arrays): the accumulators must live in registers. */
#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
/* AVX-512 has 32 registers: 16 chains, enough for 2 ports x a 5-6 cycle
 * latency (12 left Zen 5's vpdpbusd at ~75% of its rate; AVX2's 16
 * registers hold 12 chains without spilling) */
#define R16(X) R12(X) X(12) X(13) X(14) X(15)

/* 12 independent accumulators hide the FMA latency (4 cycles x 2 ports + slack) */
__attribute__((target("avx2,fma"))) static double fma_gflops(void)
{
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)i);
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    R12(DECL)
    double t0 = now();
    for (long r = 0; r < REPS; r++) {
        R12(STEP)
    }
    double t = now() - t0;
    __m256 s = _mm256_setzero_ps();
    R12(SUM)
    float o[8];
    _mm256_storeu_ps(o, s);
    if (o[0] == 12345.f) printf(" ");
    return (double)REPS * 12 * 8 * 2 / t / 1e9;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f"))) static double fma512_gflops(void)
{
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    R16(DECL)
    double t0 = now();
    for (long r = 0; r < REPS; r++) {
        R16(STEP)
    }
    double t = now() - t0;
    __m512 s = _mm512_setzero_ps();
    R16(SUM)
    float o[16];
    _mm512_storeu_ps(o, s);
    if (o[0] == 12345.f) printf(" ");
    return (double)REPS * 16 * 16 * 2 / t / 1e9;
#undef DECL
#undef STEP
#undef SUM
}

/* bf16 "FLOP" = 2 per bf16 x bf16 product, 32 products per vdpbf16ps */
__attribute__((target("avx512f,avx512bf16"))) static double bf16_gflops(void)
{
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), w = (__m512bh)_mm512_set1_epi16(0x3f7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, x, w);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    R16(DECL)
    double t0 = now();
    for (long r = 0; r < REPS; r++) {
        R16(STEP)
    }
    double t = now() - t0;
    __m512 s = _mm512_setzero_ps();
    R16(SUM)
    float o[16];
    _mm512_storeu_ps(o, s);
    if (o[0] == 12345.f) printf(" ");
    return (double)REPS * 16 * 32 * 2 / t / 1e9;
#undef DECL
#undef STEP
#undef SUM
}

/* int8 "ops" = 2 per u8 x s8 product (multiply + add), like the FLOP count */
__attribute__((target("avx2"))) static double avx2_int8_gops(void)
{
    __m256i x = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-2), one = _mm256_set1_epi16(1);
#define DECL(i) __m256i a##i = _mm256_set1_epi32(i);
#define STEP(i)                                                                     \
    __asm__ volatile("" : "+x"(x)); /* each product computed, not reused */          \
    a##i = _mm256_add_epi32(a##i, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), one));
#define SUM(i) s = _mm256_add_epi32(s, a##i);
    R12(DECL)
    double t0 = now();
    for (long r = 0; r < REPS; r++) {
        R12(STEP)
    }
    double t = now() - t0;
    __m256i s = _mm256_setzero_si256();
    R12(SUM)
    int o[8];
    _mm256_storeu_si256((__m256i *)o, s);
    if (o[0] == 12345) printf(" ");
    return (double)REPS * 12 * 32 * 2 / t / 1e9;
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx512f,avx512vnni"))) static double vnni_gops(void)
{
    __m512i x = _mm512_set1_epi8(3), w = _mm512_set1_epi8(-2);
#define DECL(i) __m512i a##i = _mm512_set1_epi32(i);
#define STEP(i) a##i = _mm512_dpbusd_epi32(a##i, x, w);  /* a##i is an input: no reuse */
#define SUM(i) s = _mm512_add_epi32(s, a##i);
    R16(DECL)
    double t0 = now();
    for (long r = 0; r < REPS; r++) {
        R16(STEP)
    }
    double t = now() - t0;
    __m512i s = _mm512_setzero_si512();
    R16(SUM)
    int o[16];
    _mm512_storeu_si512(o, s);
    if (o[0] == 12345) printf(" ");
    return (double)REPS * 16 * 64 * 2 / t / 1e9;
#undef DECL
#undef STEP
#undef SUM
}

static void cpu_name(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 2;
                v[strcspn(v, "\n")] = 0;
                for (char *q = v; *q; q++)
                    if (*q == '"' || *q == '\\') *q = ' ';
                snprintf(out, n, "%s", v);
            }
            break;
        }
    if (f) fclose(f);
}

int main(void)
{
    char name[256];
    cpu_name(name, sizeof name);
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int vnni = __builtin_cpu_supports("avx512vnni");
    int avx512 = __builtin_cpu_supports("avx512f");
    int bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
    /* best of 3: the machine may be shared */
    double f = 0, f5 = 0, q = 0, v = 0, h = 0;
    for (int i = 0; i < 3 && avx2; i++) {
        double a = fma_gflops(), b = avx2_int8_gops();
        f = a > f ? a : f, q = b > q ? b : q;
    }
    for (int i = 0; i < 3 && avx512; i++) {
        double a = fma512_gflops();
        f5 = a > f5 ? a : f5;
    }
    for (int i = 0; i < 3 && bf16; i++) {
        double a = bf16_gflops();
        h = a > h ? a : h;
    }
    for (int i = 0; i < 3 && vnni; i++) {
        double c = vnni_gops();
        v = c > v ? c : v;
    }
    char vs[32] = "null", f5s[32] = "null", hs[32] = "null";
    if (vnni) snprintf(vs, sizeof vs, "%.2f", v);
    if (avx512) snprintf(f5s, sizeof f5s, "%.2f", f5);
    if (bf16) snprintf(hs, sizeof hs, "%.2f", h);
    /* fma_gflops_per_core: the better of the AVX2 and AVX-512 loops */
    printf("{\"cpu\": \"%s\", \"fma_gflops_per_core\": %.2f, \"fma_avx2_gflops_per_core\": %.2f, "
           "\"fma_avx512_gflops_per_core\": %s, \"bf16_gflops_per_core\": %s, "
           "\"avx2_int8_gops_per_core\": %.2f, \"vnni_gops_per_core\": %s}\n",
           name, f5 > f ? f5 : f, f, f5s, hs, q, vs);
    return 0;
}
