// The GDCM bridge (the one C++ file of pneumo): parses a DICOM file held
// in memory with GDCM (Debian libgdcm-dev: every transfer syntax, JPEG 2000
// through OpenJPEG, JPEG-LS through CharLS), hands the header values the
// display rule needs to C, checks the pixel data against the header and
// decodes frame 1. No exception leaves this file; GDCM's own messages on
// stderr are switched off, the reasons come back in pn_error.
#include <cstdlib>
#include <cstring>
#include <istream>
#include <mutex>
#include <set>
#include <streambuf>
#include <string>

#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmFragment.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>

#include "dicom_internal.h"

namespace {

// A read-only, seekable stream over caller memory (no copy).
struct MemBuf : std::streambuf {
    MemBuf(const uint8_t *b, size_t n)
    {
        char *p = reinterpret_cast<char *>(const_cast<uint8_t *>(b));
        setg(p, p, p + n);
    }
    pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override
    {
        char *base = eback();
        off_type cur = gptr() - base, end = egptr() - base;
        off_type to = dir == std::ios_base::beg   ? off
                      : dir == std::ios_base::cur ? cur + off
                                                  : end + off;
        if (to < 0 || to > end) return pos_type(off_type(-1));
        setg(base, base + to, egptr());
        return pos_type(to);
    }
    pos_type seekpos(pos_type pos, std::ios_base::openmode m) override
    {
        return seekoff(off_type(pos), std::ios_base::beg, m);
    }
};

std::once_flag quiet_once;
void quiet()
{
    std::call_once(quiet_once, [] {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
    });
}

const gdcm::ByteValue *bytes_of(const gdcm::DataSet &ds, uint16_t g, uint16_t e)
{
    gdcm::Tag t(g, e);
    if (!ds.FindDataElement(t)) return nullptr;
    const gdcm::DataElement &de = ds.GetDataElement(t);
    if (de.IsEmpty()) return nullptr;
    return de.GetByteValue();
}

// The string value (first value when `first`), DICOM padding trimmed. 0 when absent/empty.
int get_str(const gdcm::DataSet &ds, uint16_t g, uint16_t e, char *out, size_t size, bool first)
{
    out[0] = 0;
    const gdcm::ByteValue *bv = bytes_of(ds, g, e);
    if (!bv || !bv->GetPointer()) return 0;
    std::string s(bv->GetPointer(), bv->GetLength());
    if (first) {
        size_t bs = s.find('\\');
        if (bs != std::string::npos) s.resize(bs);
    }
    size_t a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos) return 0;
    size_t b = s.find_last_not_of(std::string(" \t\r\n\0", 5));
    s = s.substr(a, b - a + 1);
    if (s.empty()) return 0;
    snprintf(out, size, "%s", s.c_str());
    return 1;
}

// A US (or SS) value at index i, little endian as stored; -1 when absent.
long get_us(const gdcm::DataSet &ds, uint16_t g, uint16_t e, int i = 0, bool is_signed = false)
{
    const gdcm::ByteValue *bv = bytes_of(ds, g, e);
    if (!bv || bv->GetLength() < 2u * (i + 1)) return -1;
    const unsigned char *p = reinterpret_cast<const unsigned char *>(bv->GetPointer()) + 2 * i;
    unsigned v = p[0] | (unsigned)p[1] << 8;
    return is_signed ? (long)(int16_t)v : (long)v;
}

long get_is(const gdcm::DataSet &ds, uint16_t g, uint16_t e, long dflt)
{
    char s[PN__DCM_STR];
    if (!get_str(ds, g, e, s, sizeof s, true)) return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    return end == s ? dflt : v;
}

// First item of a LUT sequence (Modality / VOI): present only with both
// LUTDescriptor and LUTData, as pydicom decides.
pn_status get_lut(const gdcm::DataSet &ds, uint16_t g, uint16_t e, int pixel_rep, pn__dcm_lut *l,
                  const char *name, const char *what, pn_error *err)
{
    gdcm::Tag t(g, e);
    if (!ds.FindDataElement(t)) return PN_OK;
    gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(t).GetValueAsSQ();
    if (!sq || sq->GetNumberOfItems() < 1) return PN_OK;
    const gdcm::DataSet &it = sq->GetItem(1).GetNestedDataSet();
    const gdcm::ByteValue *desc = bytes_of(it, 0x0028, 0x3002);
    const gdcm::ByteValue *data = bytes_of(it, 0x0028, 0x3006);
    if (!desc || !data || desc->GetLength() < 6) return PN_OK;
    // LUTDescriptor is US\SS\US: the first mapped value is signed when the
    // element says SS, or (implicit VR) when the pixel data are signed.
    gdcm::VR vr = it.GetDataElement(gdcm::Tag(0x0028, 0x3002)).GetVR();
    bool ss = vr == gdcm::VR::SS || (vr != gdcm::VR::US && pixel_rep == 1);
    l->entries = get_us(it, 0x0028, 0x3002, 0);
    if (l->entries == 0) l->entries = 65536;
    l->first = get_us(it, 0x0028, 0x3002, 1, ss);
    l->bits = (int)get_us(it, 0x0028, 0x3002, 2);
    if ((size_t)data->GetLength() < 2 * (size_t)l->entries)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: DICOM %s LUTData holds %u bytes, LUTDescriptor says %ld entries",
                            name, what, (unsigned)data->GetLength(), l->entries);
    l->data = static_cast<uint16_t *>(malloc(2 * (size_t)l->entries));
    if (!l->data) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", name);
    const unsigned char *p = reinterpret_cast<const unsigned char *>(data->GetPointer());
    for (long i = 0; i < l->entries; i++) l->data[i] = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
    l->present = 1;
    return PN_OK;
}

pn_status fill_header(const gdcm::File &f, const char *name, pn__dcm *d, pn_error *err)
{
    const gdcm::DataSet &ds = f.GetDataSet();
    const gdcm::DataSet &meta = f.GetHeader();
    get_str(meta, 0x0002, 0x0010, d->ts_uid, sizeof d->ts_uid, true);
    if (!strcmp(d->ts_uid, "1.2.840.10008.1.2.2"))
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "%s: DICOM transfer syntax Explicit VR Big Endian (retired) is not "
                            "supported",
                            name);
    get_str(ds, 0x0010, 0x0020, d->patient_id, sizeof d->patient_id, false);
    get_str(ds, 0x0008, 0x0018, d->sop_uid, sizeof d->sop_uid, false);
    d->rows = get_us(ds, 0x0028, 0x0010);
    d->cols = get_us(ds, 0x0028, 0x0011);
    d->samples = get_us(ds, 0x0028, 0x0002);
    if (d->samples < 0) d->samples = 1;
    d->frames = get_is(ds, 0x0028, 0x0008, 1);
    d->bits_alloc = (int)get_us(ds, 0x0028, 0x0100);
    d->bits_stored = (int)get_us(ds, 0x0028, 0x0101);
    d->pixel_rep = (int)get_us(ds, 0x0028, 0x0103);
    if (d->pixel_rep < 0) d->pixel_rep = 0;
    get_str(ds, 0x0028, 0x0004, d->photometric, sizeof d->photometric, false);
    d->has_rescale = get_str(ds, 0x0028, 0x1053, d->slope, sizeof d->slope, true) &&
                     get_str(ds, 0x0028, 0x1052, d->intercept, sizeof d->intercept, true);
    d->has_window = get_str(ds, 0x0028, 0x1050, d->center, sizeof d->center, true) &&
                    get_str(ds, 0x0028, 0x1051, d->width, sizeof d->width, true);
    get_str(ds, 0x0028, 0x1056, d->voi_func, sizeof d->voi_func, true);
    pn_status st = get_lut(ds, 0x0028, 0x3000, d->pixel_rep, &d->mlut, name, "Modality LUT", err);
    if (!st) st = get_lut(ds, 0x0028, 0x3010, d->pixel_rep, &d->voi, name, "VOI LUT", err);
    return st;
}

} // namespace

extern "C" pn_status pn__dcm_header(const uint8_t *buf, size_t n, const char *name, pn__dcm *d,
                                    pn_error *err)
{
    quiet();
    try {
        MemBuf mb(buf, n);
        std::istream is(&mb);
        gdcm::Reader r;
        r.SetStream(is);
        // PixelData in skiptags: the read stops right after its length field
        std::set<gdcm::Tag> skip{gdcm::Tag(0x7FE0, 0x0010)};
        if (!r.ReadUpToTag(gdcm::Tag(0x7FE0, 0x0010), skip))
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM header cannot be parsed (truncated or corrupt, %zu "
                                "bytes)",
                                name, n);
        pn_status st = fill_header(r.GetFile(), name, d, err);
        size_t pos = r.GetStreamCurrentPosition();
        static const uint8_t pd[4] = {0xE0, 0x7F, 0x10, 0x00};
        if (!st && strcmp(d->ts_uid, "1.2.840.10008.1.2.1.99") && pos >= 12 && pos <= n &&
            (!memcmp(buf + pos - 12, pd, 4) || !memcmp(buf + pos - 8, pd, 4))) {
            const uint8_t *l = buf + pos - 4;
            d->px_at = pos;
            d->px_vl = l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16 | (uint32_t)l[3] << 24;
        }
        return st;
    } catch (const std::bad_alloc &) {
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory reading the DICOM header", name);
    } catch (...) {
        return pn_error_set(err, PN_E_FORMAT, "%s: DICOM header cannot be parsed (corrupt)", name);
    }
}

extern "C" pn_status pn__dcm_decode(const uint8_t *buf, size_t n, const char *name, pn__dcm *d,
                                    pn_error *err)
{
    quiet();
    // native Pixel Data cut short: before GDCM, which would allocate what
    // the length field says
    if (d->px_at && d->px_vl != 0xFFFFFFFFu && (uint64_t)d->px_at + d->px_vl > n)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: DICOM file is truncated: Pixel Data says %lu bytes, the file ends "
                            "%zu bytes into it",
                            name, (unsigned long)d->px_vl, n - d->px_at);
    try {
        MemBuf mb(buf, n);
        std::istream is(&mb);
        gdcm::ImageReader r;
        r.SetStream(is);
        bool ok = r.Read();
        const gdcm::DataSet &ds = r.GetFile().GetDataSet();
        const gdcm::Tag pd(0x7FE0, 0x0010);
        if (!ds.FindDataElement(pd) || ds.GetDataElement(pd).IsEmpty())
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM file has no Pixel Data (7FE0,0010) element", name);
        const gdcm::DataElement &de = ds.GetDataElement(pd);
        const gdcm::SequenceOfFragments *sf = de.GetSequenceOfFragments();
        d->encapsulated = sf != nullptr;
        size_t bpp = d->bits_alloc > 8 ? 2 : 1;
        size_t need = (size_t)d->rows * (size_t)d->cols * bpp;
        if (sf) {
            if (sf->GetNumberOfFragments() < 1)
                return pn_error_set(err, PN_E_FORMAT, "%s: DICOM encapsulated Pixel Data has no "
                                                      "fragment",
                                    name);
            const gdcm::ByteValue *fv = sf->GetFragment(0).GetByteValue();
            long cr = 0, cc = 0;
            if (fv && pn__codestream_dims(reinterpret_cast<const uint8_t *>(fv->GetPointer()),
                                          fv->GetLength(), &cr, &cc) &&
                (cr != d->rows || cc != d->cols))
                return pn_error_set(err, PN_E_FORMAT,
                                    "%s: DICOM Rows/Columns say %ldx%ld but the compressed "
                                    "codestream is %ldx%ld (rows x columns)",
                                    name, d->rows, d->cols, cr, cc);
        } else {
            const gdcm::ByteValue *bv = de.GetByteValue();
            size_t have = bv ? (size_t)bv->GetLength() : 0;
            if (d->bits_alloc != 8 && d->bits_alloc != 16)
                return pn_error_set(err, PN_E_UNSUPPORTED,
                                    "%s: DICOM BitsAllocated %d is not supported (want 8 or 16)",
                                    name, d->bits_alloc);
            if (have < need)
                return pn_error_set(err, PN_E_FORMAT,
                                    "%s: DICOM Pixel Data holds %zu bytes, Rows x Columns = "
                                    "%ldx%ld at %d bits needs %zu (truncated file, or Rows/"
                                    "Columns wrong)",
                                    name, have, d->rows, d->cols, d->bits_alloc, need);
        }
        if (!ok)
            return pn_error_set(err, PN_E_FORMAT, "%s: DICOM file is truncated or corrupt (GDCM "
                                                  "cannot read it)",
                                name);
        const gdcm::Image &im = r.GetImage();
        const gdcm::PixelFormat &pf = im.GetPixelFormat();
        if (pf.GetSamplesPerPixel() != 1)
            return pn_error_set(err, PN_E_UNSUPPORTED,
                                "%s: DICOM image has %d samples per pixel (colour), not a "
                                "grayscale radiograph",
                                name, (int)pf.GetSamplesPerPixel());
        const unsigned int *dims = im.GetDimensions();
        if ((long)dims[0] != d->cols || (long)dims[1] != d->rows)
            return pn_error_set(err, PN_E_FORMAT, "%s: DICOM image is %ux%u, header says %ldx%ld",
                                name, dims[0], dims[1], d->cols, d->rows);
        int pbytes = pf.GetBitsAllocated() > 8 ? 2 : 1;
        if (pf.GetBitsAllocated() != 8 && pf.GetBitsAllocated() != 16)
            return pn_error_set(err, PN_E_UNSUPPORTED,
                                "%s: DICOM decodes to %d bits per sample (want 8 or 16)", name,
                                (int)pf.GetBitsAllocated());
        size_t len = im.GetBufferLength();
        size_t frame = (size_t)d->rows * (size_t)d->cols * (size_t)pbytes;
        if (len < frame)
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM pixel data decode to %zu bytes, want %zu", name, len,
                                frame);
        char *px = static_cast<char *>(malloc(len));
        if (!px)
            return pn_error_set(err, PN_E_NOMEM, "%s: out of memory for the DICOM pixels", name);
        if (!im.GetBuffer(px)) {
            free(px);
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: DICOM pixel data cannot be decoded (transfer syntax %s; "
                                "truncated or corrupt)",
                                name, d->ts_uid[0] ? d->ts_uid : "?");
        }
        d->px = px;
        d->px_bytes = pbytes;
        d->px_signed = pf.GetPixelRepresentation() == 1;
        return PN_OK;
    } catch (const std::bad_alloc &) {
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory decoding the DICOM file", name);
    } catch (...) {
        return pn_error_set(err, PN_E_FORMAT, "%s: DICOM file cannot be decoded (corrupt)", name);
    }
}

extern "C" void pn__dcm_free(pn__dcm *d)
{
    if (!d) return;
    free(d->mlut.data);
    free(d->voi.data);
    free(d->px);
    d->mlut.data = d->voi.data = nullptr;
    d->px = nullptr;
}
