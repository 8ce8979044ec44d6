/* The marker structure of a JPEG codestream (pn__jpeg_markers_bad): the
 * check every JPEG frame of a DICOM file passes before a decoder sees it
 * (segment lengths, DHT tables that form a Huffman code, DQT/SOF/SOS sizes). */
#include <stdio.h>
#include <string.h>

#include "dicom_internal.h"

#define JBAD(...) (snprintf(why, why_n, __VA_ARGS__), 1)

/* The tables of one DHT segment (s: after the length, m bytes). */
static int dht_bad(const uint8_t *s, size_t m, size_t at, char *why, size_t why_n)
{
    size_t i = 0;
    while (i < m) {
        if (m - i < 17)
            return JBAD("DHT at byte %zu: a table header of 17 bytes does not fit in the %zu "
                        "bytes left of the segment",
                        at, m - i);
        unsigned tc = s[i] >> 4, th = s[i] & 15;
        if (tc > 1 || th > 3)
            return JBAD("DHT at byte %zu: table class %u / id %u (want class 0-1, id 0-3)", at,
                        tc, th);
        unsigned sum = 0;
        /* the counts must fit a prefix code: at most 2^l codes of length l,
         * less those taken by shorter codes */
        uint64_t room = 1;
        for (int l = 1; l <= 16; l++) {
            unsigned c = s[i + l];
            room *= 2;
            if (c > room)
                return JBAD("DHT at byte %zu: %u codes of length %d do not fit a Huffman code "
                            "(%llu left)",
                            at, c, l, (unsigned long long)room);
            room -= c;
            sum += c;
        }
        if (sum > 256)
            return JBAD("DHT at byte %zu: the code counts sum to %u (at most 256)", at, sum);
        if (sum > m - i - 17)
            return JBAD("DHT at byte %zu: %u values announced, %zu bytes left in the segment", at,
                        sum, m - i - 17);
        if (tc == 0)
            for (unsigned k = 0; k < sum; k++)
                if (s[i + 17 + k] > 16)
                    return JBAD("DHT at byte %zu: DC table value %u (at most 16)", at,
                                s[i + 17 + k]);
        i += 17 + sum;
    }
    return 0;
}

int pn__jpeg_markers_bad(const uint8_t *b, size_t n, char *why, size_t why_n)
{
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8)
        return JBAD("the codestream does not start with a JPEG SOI marker (FFD8)");
    size_t i = 2;
    int sof = 0;
    for (;;) {
        if (i >= n) return JBAD("the codestream ends at byte %zu before its SOS marker", i);
        if (b[i] != 0xFF) {
            size_t j = i;
            while (j < n && b[j] != 0xFF) j++;
            return JBAD("%zu bytes of garbage at byte %zu where a marker should be", j - i, i);
        }
        while (i < n && b[i] == 0xFF) i++; /* fill bytes */
        if (i >= n) return JBAD("the codestream ends at byte %zu before its SOS marker", i);
        unsigned mk = b[i++];
        size_t at = i - 2;
        if (mk == 0x00 || mk == 0x01 || (mk >= 0xD0 && mk <= 0xD9))
            return JBAD("marker 0x%02X at byte %zu before the SOS marker", mk, at);
        if (n - i < 2) return JBAD("marker 0x%02X at byte %zu: its length is cut off", mk, at);
        size_t len = (size_t)b[i] << 8 | b[i + 1];
        if (len < 2 || len > n - i)
            return JBAD("marker 0x%02X at byte %zu: length %zu, %zu bytes left", mk, at, len,
                        n - i);
        const uint8_t *s = b + i + 2;
        size_t m = len - 2;
        if (mk == 0xC4) {
            if (dht_bad(s, m, at, why, why_n)) return 1;
        } else if (mk == 0xDB) {
            size_t k = 0;
            while (k < m) {
                unsigned pq = s[k] >> 4, tq = s[k] & 15;
                size_t tl = 1 + 64 * (size_t)(pq + 1);
                if (pq > 1 || tq > 3 || tl > m - k)
                    return JBAD("DQT at byte %zu: table precision %u / id %u, %zu bytes left", at,
                                pq, tq, m - k);
                k += tl;
            }
        } else if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC8 && mk != 0xCC) { /* SOFn */
            if (sof) return JBAD("a second SOF marker (0x%02X) at byte %zu", mk, at);
            sof = 1;
            if (m < 6 || s[5] == 0 || m != 6 + 3 * (size_t)s[5])
                return JBAD("SOF marker 0x%02X at byte %zu: length %zu does not match its %u "
                            "components",
                            mk, at, len, m >= 6 ? s[5] : 0);
            if (s[0] < 2 || s[0] > 16)
                return JBAD("SOF marker 0x%02X at byte %zu: precision %u bits", mk, at, s[0]);
        } else if (mk == 0xDA) {
            if (!sof) return JBAD("SOS marker at byte %zu before any SOF marker", at);
            if (m < 1 || s[0] < 1 || s[0] > 4 || m != 4 + 2 * (size_t)s[0])
                return JBAD("SOS marker at byte %zu: length %zu does not match its %u "
                            "components",
                            at, len, m >= 1 ? s[0] : 0);
            return 0; /* entropy-coded data follow: the codec's part */
        } else if (mk == 0xDD && m != 2) {
            return JBAD("DRI marker at byte %zu: length %zu (want 4)", at, len);
        }
        i += len;
    }
}
