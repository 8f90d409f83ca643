// dicom.cc - DICOM in and out through DCMTK 3.6.7 (see dicom.h). The project's one C++
// file: DCMTK is C++ only, and everything it touches stays behind dicom.h.
#include "dcmtk/config/osconfig.h" // first, as DCMTK requires

#include <pthread.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <vector>

#include <zlib.h>

#include "dcmtk/dcmdata/dccodec.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmfg/fgderimg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmfg/fgseg.h"
#include "dcmtk/dcmimage/diregist.h" // colour images in DicomImage
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmiod/iodreferences.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"
#include "dcmtk/oflog/oflog.h"

extern "C" {
#include "dicom.h"
}

#ifndef LGMSD_VERSION
#define LGMSD_VERSION "0.0.0"
#endif

struct api_dicom {
    std::vector<Uint8> bytes; // the object as uploaded (DCMTK reads from it)
    DcmFileFormat file;
    DcmDataset *ds;
    E_TransferSyntax xfer;
    api_dicom_info info;
};

static const char *SEG_STORAGE = UID_SegmentationStorage;
static const char *SC_STORAGE = UID_SecondaryCaptureImageStorage;
static const char *SC_MULTIFRAME_STORAGE = UID_MultiframeTrueColorSecondaryCaptureImageStorage;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool dictionary_ok;

static void init_dcmtk() {
    // DCMTK reports through return values; its own log would go to stderr
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    dcmEnableUnknownVRConversion.set(OFTrue);
    dictionary_ok = dcmDataDict.isDictionaryLoaded();
}

static api_status fail(api_error *e, api_status st, const char *fmt, ...) {
    e->status = st;
    e->setting = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
    return st;
}

static void get_string(DcmItem *item, const DcmTagKey &tag, char *out, size_t cap) {
    OFString v;
    out[0] = 0;
    if (item->findAndGetOFString(tag, v).good()) snprintf(out, cap, "%s", v.c_str());
}

extern "C" int api_dicom_detect(const uint8_t *data, size_t len) {
    return len >= 132 && !memcmp(data + 128, "DICM", 4);
}

// ------------------------------------------------------------------ allocation cap
// The second line of defence behind the structure walk below: while DCMTK parses an
// upload, no single nothrow allocation (DCMTK's way of allocating element values) may be
// larger than the upload itself plus 64 KiB, since every value it reads comes out of that
// buffer; DCMTK turns the refusal into EC_MemoryExhausted and the read fails cleanly.
// The global operators are replaced program-wide (C++ allows it), all through malloc and
// free so that every new meets its delete; only the nothrow forms are ever capped, and
// only on a thread inside api_dicom_open's read.
static thread_local size_t parse_cap;

#if defined(__GNUC__) && !defined(__clang__) /* our new is malloc and our delete free: they do match */
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

static void *allocate(std::size_t n, bool nothrow) {
    if (nothrow && parse_cap && n > parse_cap) return nullptr;
    void *p = std::malloc(n ? n : 1);
    if (!p && !nothrow) throw std::bad_alloc();
    return p;
}
void *operator new(std::size_t n) { return allocate(n, false); }
void *operator new[](std::size_t n) { return allocate(n, false); }
void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return allocate(n, true); }
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return allocate(n, true); }
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, const std::nothrow_t &) noexcept { std::free(p); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { std::free(p); }

// ------------------------------------------------------------------ structure check
// DCMTK allocates each element's declared length before reading its value, without
// checking it against the bytes left, and recurses once per nested sequence: a 1 KB
// upload could make it ask for 4 GB, or nest deeply enough to exhaust the stack. So the
// object's structure is walked first, without allocating: every element, item and
// fragment must fit inside what contains it, and sequences nest at most MAX_DEPTH deep.

enum { MAX_DEPTH = 16 };
static const uint32_t UNDEFINED = 0xFFFFFFFFu;

// What the walk stopped at, for the reply.
struct walk_fault {
    char what[160];
};

struct walker {
    const uint8_t *p;
    bool little, explicit_vr;
    walk_fault *fault;
    bool stop(const char *fmt, ...) const {
        if (fault && !fault->what[0]) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(fault->what, sizeof fault->what, fmt, ap);
            va_end(ap);
        }
        return false;
    }
    uint16_t u16(size_t at) const {
        return little ? (uint16_t)(p[at] | p[at + 1] << 8) : (uint16_t)(p[at] << 8 | p[at + 1]);
    }
    uint32_t u32(size_t at) const {
        return little
                   ? (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16 | (uint32_t)p[at + 3] << 24
                   : (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 | (uint32_t)p[at + 2] << 8 | (uint32_t)p[at + 3];
    }
};

// Whether an explicit VR has a 4-byte length: the standard's long VRs, and as DCMTK reads
// them, VRs it does not know that are two capital letters (the standard promises new VRs
// the long form); anything else has 2 bytes.
static bool standard_vr(uint8_t a, uint8_t b) {
    static const char *all[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
                                "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
                                "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
    for (const char *vr : all)
        if (a == vr[0] && b == vr[1]) return true;
    return false;
}

static bool long_vr(uint8_t a, uint8_t b) {
    static const char *shorts[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
                                   "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
    if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z') return false;
    for (const char *vr : shorts)
        if (a == vr[0] && b == vr[1]) return false;
    return true;
}

static bool walk_elements(const walker &w, size_t *pos, size_t end, bool until_delimiter, int depth);

// The items of a sequence (or the fragments of encapsulated pixel data: items that hold
// bytes, not elements) from *pos, up to end or to the sequence delimiter.
static bool walk_items(const walker &w, size_t *pos, size_t end, bool undefined, bool fragments, int depth) {
    if (depth > MAX_DEPTH) return w.stop("sequences nest deeper than %d", MAX_DEPTH);
    while (undefined || *pos < end) {
        if (end - *pos < 8) return w.stop("a sequence ends without its delimiter");
        uint16_t g = w.u16(*pos), el = w.u16(*pos + 2);
        uint32_t n = w.u32(*pos + 4);
        *pos += 8;
        if (g == 0xFFFE && el == 0xE0DD) return true; // sequence delimiter
        if (g != 0xFFFE || el != 0xE000) return w.stop("(%04X,%04X) where a sequence item should be", g, el);
        if (n == UNDEFINED) { // an item that ends with its delimiter
            if (fragments) return w.stop("a pixel data fragment of undefined length");
            if (!walk_elements(w, pos, end, true, depth + 1)) return false;
            continue;
        }
        if (n > end - *pos) return w.stop("an item declares %u bytes where %zu remain", n, end - *pos);
        size_t inner = *pos;
        if (!fragments && !walk_elements(w, &inner, *pos + n, false, depth + 1)) return false;
        *pos += n;
    }
    return true;
}

// Elements from *pos up to end, or (until_delimiter) up to an item delimiter.
static bool walk_elements(const walker &w, size_t *pos, size_t end, bool until_delimiter, int depth) {
    if (depth > MAX_DEPTH) return w.stop("sequences nest deeper than %d", MAX_DEPTH);
    while (*pos < end) {
        if (end - *pos < 8) { // DCMTK reads an element across an item's end: refuse inside items
            if (depth == 0 && !until_delimiter) return true; // trailing bytes of the file: DCMTK stops there
            return w.stop("an item's content does not end with an element");
        }
        uint16_t g = w.u16(*pos), el = w.u16(*pos + 2);
        if (g == 0xFFFE) { // item delimiter, or a stray item tag whose length must fit too
            uint32_t n = w.u32(*pos + 4);
            *pos += 8;
            if (el == 0xE00D && until_delimiter) return true;
            if (n != UNDEFINED && n > end - *pos)
                return w.stop("item tag (FFFE,%04X) declares %u bytes where %zu remain", el, n, end - *pos);
            continue;
        }
        uint8_t a = 0, b = 0;
        uint32_t n;
        bool sq, encapsulated = false, unknown = false;
        if (w.explicit_vr) {
            a = w.p[*pos + 4], b = w.p[*pos + 5];
            bool wide = long_vr(a, b);
            if (wide && end - *pos < 12) return w.stop("the object is truncated");
            n = wide ? w.u32(*pos + 8) : w.u16(*pos + 6);
            *pos += wide ? 12 : 8;
            // UN, and VRs DCMTK does not know (it reads them as UN): a sequence in implicit VR
            // when the length is undefined or the dictionary says SQ (CP-246)
            unknown = (a == 'U' && b == 'N') || !standard_vr(a, b);
            sq = (a == 'S' && b == 'Q') || (unknown && (n == UNDEFINED || DcmTag(g, el).getEVR() == EVR_SQ));
            encapsulated = g == 0x7FE0 && el == 0x0010 && n == UNDEFINED && a == 'O' && (b == 'B' || b == 'W');
            if (n == UNDEFINED && !sq && !encapsulated)
                return w.stop("(%04X,%04X) %c%c has an undefined length", g, el, a, b);
        } else {
            n = w.u32(*pos + 4);
            *pos += 8;
            sq = n == UNDEFINED || DcmTag(g, el).getEVR() == EVR_SQ;
        }
        walker inner = w;
        if (unknown) inner.explicit_vr = false, inner.little = true; // implicit VR little endian inside
        if (n == UNDEFINED) {
            if (!walk_items(inner, pos, end, true, encapsulated, depth + 1)) return false;
            continue;
        }
        if (n > end - *pos)
            return w.stop("element (%04X,%04X) declares %u bytes where %zu remain", g, el, n, end - *pos);
        size_t at = *pos;
        if (sq && !walk_items(inner, &at, *pos + n, false, false, depth + 1)) return false;
        *pos += n;
    }
    return !until_delimiter || w.stop("an item ends without its delimiter");
}

// Whether the Part 10 object in p[0..len) passes the walk: its File Meta elements (explicit
// VR little endian), then its dataset in the transfer syntax the meta names (a deflated
// one is inflated, at most max_inflated bytes; API_TOO_LARGE beyond).
static api_status structure_fits(const uint8_t *p, size_t len, uint64_t max_inflated, size_t *inflated_len,
                                 api_error *e) {
    *inflated_len = 0;
    if (len < 132 || memcmp(p + 128, "DICM", 4))
        return fail(e, API_UNPROCESSABLE, "not a DICOM Part 10 file (no \"DICM\" after the 128-byte preamble)");
    walker meta = {p, true, true, NULL};
    size_t pos = 132;
    std::string syntax;
    while (pos + 8 <= len && meta.u16(pos) == 0x0002) { // File Meta: explicit VR little endian, no sequences
        bool wide = long_vr(p[pos + 4], p[pos + 5]);
        size_t header = wide ? 12 : 8;
        if (len - pos < header)
            return fail(e, API_UNPROCESSABLE, "not a readable DICOM file: the File Meta is truncated");
        uint32_t n = wide ? meta.u32(pos + 8) : meta.u16(pos + 6);
        if (n > len - pos - header) // also the undefined length
            return fail(e, API_UNPROCESSABLE,
                        "not a readable DICOM file: a File Meta element is longer than the upload");
        if (meta.u16(pos + 2) == 0x0010) { // TransferSyntaxUID
            syntax.assign((const char *)p + pos + header, n);
            while (!syntax.empty() && (syntax.back() == '\0' || syntax.back() == ' '))
                syntax.pop_back();
        }
        pos += header + n;
    }
    walk_fault fault = {""};
    walker ds = {p, syntax != UID_BigEndianExplicitTransferSyntax, syntax != UID_LittleEndianImplicitTransferSyntax,
                 &fault};
    if (syntax.empty() && len - pos >= 6) // no syntax named: DCMTK guesses; so does this, from the first element
        ds.explicit_vr = p[pos + 4] >= 'A' && p[pos + 4] <= 'Z' && p[pos + 5] >= 'A' && p[pos + 5] <= 'Z';
    if (syntax != UID_DeflatedExplicitVRLittleEndianTransferSyntax)
        return walk_elements(ds, &pos, len, false, 0)
                   ? API_OK
                   : fail(e, API_UNPROCESSABLE, "not a readable DICOM file: %s", fault.what);
    std::vector<uint8_t> plain;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK) return fail(e, API_INTERNAL, "out of memory inflating the DICOM object");
    z.next_in = (Bytef *)(p + pos);
    z.avail_in = (uInt)std::min(len - pos, (size_t)UINT32_MAX);
    int zr = Z_OK;
    while (zr == Z_OK) {
        if (plain.size() >= max_inflated) break;
        size_t have = plain.size(), step = std::min((size_t)1 << 20, max_inflated - have);
        plain.resize(have + step);
        z.next_out = plain.data() + have;
        z.avail_out = (uInt)step;
        zr = inflate(&z, Z_NO_FLUSH);
        plain.resize(have + step - z.avail_out);
    }
    inflateEnd(&z);
    if (zr == Z_OK) {
        fail(e, API_TOO_LARGE, "the deflated DICOM dataset inflates past %llu bytes; max_body_bytes = %llu",
             (unsigned long long)max_inflated, (unsigned long long)max_inflated);
        e->setting = "max_body_bytes";
        return API_TOO_LARGE;
    }
    if (zr != Z_STREAM_END)
        return fail(e, API_UNPROCESSABLE, "not a readable DICOM file: its deflated dataset is corrupt");
    *inflated_len = plain.size();
    walker inflated = {plain.data(), true, true, &fault};
    size_t at = 0;
    return walk_elements(inflated, &at, plain.size(), false, 0)
               ? API_OK
               : fail(e, API_UNPROCESSABLE, "not a readable DICOM file: %s (deflated dataset)", fault.what);
}

extern "C" void api_dicom_close(api_dicom *d) { delete d; }

// RLE fragments checked before DCMTK decodes them: its decoder trusts the segment offsets
// in each fragment's header and reads past the fragment when they point outside it (the
// fuzzer's second DCMTK finding). A frame is one fragment (PS3.5 G.2): a 64-byte header of
// the segment count (one per byte of each sample) and 15 offsets, each inside the
// fragment, increasing.
static api_status rle_fragments_sound(DcmDataset *ds, api_error *e) {
    DcmElement *el = NULL;
    DcmPixelSequence *seq = NULL;
    Uint16 samples = 1, allocated = 8;
    ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
    ds->findAndGetUint16(DCM_BitsAllocated, allocated);
    if (ds->findAndGetElement(DCM_PixelData, el).bad() ||
        ((DcmPixelData *)el)->getEncapsulatedRepresentation(EXS_RLELossless, NULL, seq).bad() || !seq)
        return fail(e, API_UNPROCESSABLE, "RLE pixel data without fragments");
    Uint32 segments_expected = (Uint32)samples * ((allocated + 7u) / 8u);
    for (unsigned long i = 1; i < seq->card(); i++) { // item 0: the offset table
        DcmPixelItem *item = NULL;
        Uint8 *b = NULL;
        if (seq->getItem(item, i).bad() || !item) break;
        Uint32 n = item->getLength();
        if (n && (item->getUint8Array(b).bad() || !b))
            return fail(e, API_UNPROCESSABLE, "unreadable RLE fragment %lu", i);
        if (n < 64) return fail(e, API_UNPROCESSABLE, "RLE fragment %lu is %u bytes, shorter than its header", i, n);
        auto u32 = [b](int k) {
            return (Uint32)b[4 * k] | (Uint32)b[4 * k + 1] << 8 | (Uint32)b[4 * k + 2] << 16 |
                   (Uint32)b[4 * k + 3] << 24;
        };
        Uint32 count = u32(0), last = 63;
        if (count < 1 || count > 15 || count != segments_expected)
            return fail(e, API_UNPROCESSABLE, "RLE fragment %lu has %u segments; %u expected", i, count,
                        segments_expected);
        for (Uint32 k = 1; k <= count; k++) {
            Uint32 at = u32((int)k);
            if (at <= last || at >= n)
                return fail(e, API_UNPROCESSABLE, "RLE fragment %lu: segment %u starts at %u, outside its %u bytes", i,
                            k, at, n);
            last = at;
        }
    }
    return API_OK;
}

// DCMTK reads big-endian pixel data (OW) as 16-bit words, so each 32-bit sample of such a
// file comes out with its two halves exchanged (dcm2pnm shows it too); put them back.
// Explicit big endian is retired, but RT dose files in it still circulate.
static void fix_big_endian_32bit(DcmDataset *ds, E_TransferSyntax xfer) {
    Uint16 allocated = 0;
    DcmElement *px = NULL;
    if (xfer != EXS_BigEndianExplicit || ds->findAndGetUint16(DCM_BitsAllocated, allocated).bad() || allocated != 32 ||
        ds->findAndGetElement(DCM_PixelData, px).bad())
        return;
    Uint16 *w = NULL;
    if (px->getUint16Array(w).bad() || !w) return;
    unsigned long n = px->getLength() / 4;
    for (unsigned long k = 0; k < n; k++) {
        Uint16 t = w[2 * k];
        w[2 * k] = w[2 * k + 1], w[2 * k + 1] = t;
    }
}

extern "C" api_status api_dicom_open(const uint8_t *data, size_t len, const api_dicom_limits *lim, api_dicom **out,
                                     api_dicom_info *info, api_error *e) {
    uint64_t max_pixels = lim->max_pixels;
    *out = NULL;
    memset(info, 0, sizeof *info);
    pthread_once(&init_once, init_dcmtk);
    if (!dictionary_ok)
        return fail(e, API_INTERNAL,
                    "the DICOM data dictionary is not installed (DCMTK's dicom.dic, package libdcmtk17)");
    size_t inflated_len;
    api_status checked = structure_fits(data, len, lim->max_inflated, &inflated_len, e);
    if (checked) return checked;
    api_dicom *d = new (std::nothrow) api_dicom();
    if (!d) return fail(e, API_INTERNAL, "out of memory reading the DICOM object");
    d->bytes.assign(data, data + len);
    DcmInputBufferStream in;
    in.setBuffer(d->bytes.data(), (offile_off_t)d->bytes.size());
    in.setEos();
    d->file.transferInit();
    parse_cap = std::max(len, inflated_len) + ((size_t)64 << 10);
    OFCondition cond = d->file.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    parse_cap = 0;
    d->file.transferEnd();
    if (cond.bad()) {
        delete d;
        return fail(e, API_UNPROCESSABLE, "not a readable DICOM file: %s", cond.text());
    }
    d->ds = d->file.getDataset();
    d->xfer = d->ds->getOriginalXfer();
    if (d->xfer == EXS_RLELossless && d->ds->tagExists(DCM_PixelData)) {
        api_status bad = rle_fragments_sound(d->ds, e);
        if (bad) {
            delete d;
            return bad;
        }
    }
    fix_big_endian_32bit(d->ds, d->xfer);
    api_dicom_info *i = &d->info;
    get_string(d->ds, DCM_StudyInstanceUID, i->study_uid, sizeof i->study_uid);
    get_string(d->ds, DCM_SeriesInstanceUID, i->series_uid, sizeof i->series_uid);
    get_string(d->ds, DCM_SOPInstanceUID, i->sop_uid, sizeof i->sop_uid);
    get_string(d->ds, DCM_SOPClassUID, i->sop_class_uid, sizeof i->sop_class_uid);
    get_string(d->ds, DCM_Modality, i->modality, sizeof i->modality);
    get_string(d->ds, DCM_PhotometricInterpretation, i->photometric, sizeof i->photometric);
    DcmXfer xfer(d->xfer);
    snprintf(i->transfer_syntax, sizeof i->transfer_syntax, "%s", xfer.getXferID());
    snprintf(i->transfer_syntax_name, sizeof i->transfer_syntax_name, "%s", xfer.getXferName());
    Uint16 rows = 0, cols = 0, bits = 0;
    d->ds->findAndGetUint16(DCM_Rows, rows);
    d->ds->findAndGetUint16(DCM_Columns, cols);
    d->ds->findAndGetUint16(DCM_BitsStored, bits);
    Sint32 frames = 1;
    if (d->ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
    i->rows = rows, i->columns = cols, i->bits_stored = bits, i->frames = frames;
    Float64 sp[2];
    if ((d->ds->findAndGetFloat64(DCM_PixelSpacing, sp[0], 0).good() &&
         d->ds->findAndGetFloat64(DCM_PixelSpacing, sp[1], 1).good()) ||
        (d->ds->findAndGetFloat64(DCM_ImagerPixelSpacing, sp[0], 0).good() &&
         d->ds->findAndGetFloat64(DCM_ImagerPixelSpacing, sp[1], 1).good())) {
        if (sp[0] > 0 && sp[1] > 0) i->has_spacing = 1, i->spacing[0] = sp[0], i->spacing[1] = sp[1];
    }
    i->has_frame_of_reference = d->ds->tagExistsWithValue(DCM_FrameOfReferenceUID);
    *info = *i;
    api_status st = API_OK;
    if (!strcmp(info->sop_class_uid, SEG_STORAGE))
        st = fail(e, API_UNPROCESSABLE, "the object is a segmentation (SEG), not an image to segment");
    else if (!d->ds->tagExists(DCM_PixelData))
        st = fail(e, API_UNPROCESSABLE, "the DICOM object holds no image (modality %s, SOP class %s)",
                  info->modality[0] ? info->modality : "?", info->sop_class_uid);
    else if (xfer.isEncapsulated() && !DcmCodecList::canChangeCoding(d->xfer, EXS_LittleEndianExplicit))
        st = fail(e, API_UNSUPPORTED, "transfer syntax %s (%s) cannot be decoded here", info->transfer_syntax_name,
                  info->transfer_syntax);
    else if (!rows || !cols)
        st = fail(e, API_UNPROCESSABLE, "the image has no rows or columns");
    else if ((uint64_t)rows * cols > max_pixels) {
        st = fail(e, API_TOO_LARGE, "image is %dx%d = %llu pixels; max_pixels = %llu", cols, rows,
                  (unsigned long long)rows * cols, (unsigned long long)max_pixels);
        e->setting = "max_pixels";
    }
    if (st) {
        api_dicom_close(d);
        return st;
    }
    *out = d;
    return API_OK;
}

// Which VOI a monochrome frame gets, by the pixel rule in dicom.h, decided from the
// dataset before decoding (the decode depends on it).
enum voi_choice { VOI_OWN_WINDOW, VOI_DCMTK_WINDOW, VOI_DCMTK_LUT, VOI_NONE };

static voi_choice choose_voi(DcmDataset *ds, const api_window *asked, int bits_stored, api_window *win) {
    if (asked->mode == API_WINDOW_SET) {
        *win = *asked;
        return VOI_OWN_WINDOW;
    }
    Float64 c, w;
    if (asked->mode != API_WINDOW_AUTO && ds->findAndGetFloat64(DCM_WindowCenter, c, 0).good() &&
        ds->findAndGetFloat64(DCM_WindowWidth, w, 0).good() && w >= 1) {
        OFString fn;
        win->mode = API_WINDOW_STORED, win->center = c, win->width = w;
        // SIGMOID and LINEAR_EXACT are DCMTK's to apply; LINEAR is the rule every format shares
        if (ds->findAndGetOFString(DCM_VOILUTFunction, fn).good() && !fn.empty() && fn != "LINEAR")
            return VOI_DCMTK_WINDOW;
        return VOI_OWN_WINDOW;
    }
    DcmItem *lut = NULL;
    if (asked->mode != API_WINDOW_AUTO && ds->findAndGetSequenceItem(DCM_VOILUTSequence, lut, 0).good()) {
        win->mode = API_WINDOW_VOI_LUT;
        return VOI_DCMTK_LUT;
    }
    if (asked->mode == API_WINDOW_AUTO || bits_stored > 8) { // asked, or more than 8 bits and nothing to follow
        win->mode = API_WINDOW_AUTO;
        return VOI_OWN_WINDOW;
    }
    win->mode = API_WINDOW_NONE; // 8-bit data as stored
    return VOI_NONE;
}

// One sample of DCMTK's intermediate (stored, or modality LUT output) representation.
static double inter_sample(const DiPixel *p, size_t i) {
    const void *d = p->getData();
    switch (p->getRepresentation()) {
    case EPR_Uint8: return ((const Uint8 *)d)[i];
    case EPR_Sint8: return ((const Sint8 *)d)[i];
    case EPR_Uint16: return ((const Uint16 *)d)[i];
    case EPR_Sint16: return ((const Sint16 *)d)[i];
    case EPR_Uint32: return ((const Uint32 *)d)[i];
    default: return ((const Sint32 *)d)[i];
    }
}

// The window applied by the rule api_window_value states, to the modality values
// (stored * RescaleSlope + RescaleIntercept, in double: DCMTK's own rescale rounds to
// integers), so a DICOM frame and a 16-bit PNG windowed alike give the same pixels.
static api_status own_window(DicomImage &di, DcmDataset *ds, bool modality_by_dcmtk, api_window *win, int invert,
                             uint8_t *out, size_t n) {
    const DiPixel *p = di.getInterData();
    if (!p || p->getCount() < n) return API_UNPROCESSABLE;
    Float64 slope = 1, intercept = 0;
    if (!modality_by_dcmtk) {
        if (ds->findAndGetFloat64(DCM_RescaleSlope, slope).bad() || slope == 0) slope = 1;
        if (ds->findAndGetFloat64(DCM_RescaleIntercept, intercept).bad()) intercept = 0;
    }
    if (win->mode == API_WINDOW_AUTO) {
        double lo = 0, hi = 0;
        for (size_t i = 0; i < n; i++) {
            double v = inter_sample(p, i) * slope + intercept;
            if (i == 0 || v < lo) lo = v;
            if (i == 0 || v > hi) hi = v;
        }
        api_window_from_range(win, lo, hi);
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t y = api_window_value(win, inter_sample(p, i) * slope + intercept);
        out[i] = invert ? (uint8_t)(255 - y) : y;
    }
    return API_OK;
}

// YCbCr (full range) to RGB by the exact formula, rounded (DCMTK's own conversion is up
// to 2 levels off it); JPEG decoders convert inside the codec and are left to do so.
static uint8_t clamp_round(double v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5); }

static void ybr_full_to_rgb(uint8_t *px, size_t n) {
    for (size_t i = 0; i < n; i++, px += 3) {
        double y = px[0], cb = px[1] - 128.0, cr = px[2] - 128.0;
        px[0] = clamp_round(y + 1.402 * cr);
        px[1] = clamp_round(y - 0.344136 * cb - 0.714136 * cr);
        px[2] = clamp_round(y + 1.772 * cb);
    }
}

extern "C" api_status api_dicom_frame(api_dicom *d, int frame, api_window *win, api_image *out, api_error *e) {
    memset(out, 0, sizeof *out);
    if (frame < 0 || frame >= d->info.frames)
        return fail(e, API_BAD_REQUEST, "frame %d asked; the object has %d frame(s)", frame + 1, d->info.frames);
    api_window asked = *win;
    win->mode = API_WINDOW_NONE;
    OFString pi = d->info.photometric;
    bool mono = pi == "MONOCHROME1" || pi == "MONOCHROME2";
    voi_choice voi = mono ? choose_voi(d->ds, &asked, d->info.bits_stored, win) : VOI_NONE;
    // our own window reads the stored values unless a modality LUT (not a rescale) maps them
    bool lut_modality = d->ds->tagExists(DCM_ModalityLUTSequence);
    unsigned long flags = CIF_UsePartialAccessToPixelData;
    if (voi == VOI_OWN_WINDOW && !lut_modality) flags |= CIF_IgnoreModalityTransformation;
    DcmXfer xfer(d->xfer);
    bool own_ybr = (pi == "YBR_FULL" || pi == "YBR_FULL_422") && (!xfer.isEncapsulated() || d->xfer == EXS_RLELossless);
    if (own_ybr) flags |= CIF_KeepYCbCrColorModel;
    DicomImage di(d->ds, d->xfer, flags, (unsigned long)frame, 1);
    if (di.getStatus() != EIS_Normal)
        return fail(e, API_UNPROCESSABLE, "cannot decode frame %d: %s", frame + 1,
                    DicomImage::getString(di.getStatus()));
    int w = (int)di.getWidth(), h = (int)di.getHeight(), channels = di.isMonochrome() ? 1 : 3;
    size_t n = (size_t)w * h * channels;
    out->pixels = (uint8_t *)malloc(n ? n : 1);
    if (!out->pixels) return fail(e, API_INTERNAL, "out of memory decoding the DICOM image");
    out->width = w, out->height = h, out->channels = channels;
    out->source_depth = d->info.bits_stored ? d->info.bits_stored : 8;
    out->format = "dicom";
    if (voi == VOI_OWN_WINDOW && channels == 1) {
        if (own_window(di, d->ds, lut_modality, win, pi == "MONOCHROME1", out->pixels, n) == API_OK) return API_OK;
        api_image_free(out);
        return fail(e, API_UNPROCESSABLE, "cannot read the samples of frame %d", frame + 1);
    }
    if (voi == VOI_DCMTK_WINDOW)
        di.setWindow(0);
    else if (voi == VOI_DCMTK_LUT)
        di.setVoiLut(0);
    else
        di.setNoVoiTransformation();
    const void *px = di.getOutputData(8, 0, 0);
    if (!px) {
        api_image_free(out);
        return fail(e, API_UNPROCESSABLE, "cannot render frame %d of the DICOM image", frame + 1);
    }
    memcpy(out->pixels, px, n);
    if (own_ybr && channels == 3) ybr_full_to_rgb(out->pixels, (size_t)w * h);
    return API_OK;
}

// ------------------------------------------------------------------ writing

// Whether references to the source may name frames: only for multi-frame SOP classes (a
// single-frame class with a Number of Frames, as some files have, takes no frame numbers).
static bool multiframe_class(const api_dicom_info *info) {
    static const char *single[] = {
        UID_SecondaryCaptureImageStorage,    UID_CTImageStorage,         UID_MRImageStorage,
        UID_ComputedRadiographyImageStorage, UID_UltrasoundImageStorage, UID_DigitalXRayImageStorageForPresentation};
    if (info->frames < 2) return false;
    for (const char *uid : single)
        if (!strcmp(info->sop_class_uid, uid)) return false;
    return true;
}

// A Part 10 file of ff in memory (explicit VR little endian).
static api_status to_memory(DcmFileFormat &ff, uint8_t **out, size_t *out_len, api_error *e) {
    *out = NULL, *out_len = 0;
    OFCondition cond = ff.validateMetaInfo(EXS_LittleEndianExplicit);
    if (cond.bad()) return fail(e, API_INTERNAL, "cannot write the DICOM meta header: %s", cond.text());
    std::vector<Uint8> buf(1 << 20);
    std::vector<Uint8> file;
    DcmOutputBufferStream stream(buf.data(), (offile_off_t)buf.size());
    ff.transferInit();
    do {
        cond = ff.write(stream, EXS_LittleEndianExplicit, EET_ExplicitLength, NULL);
        void *chunk;
        offile_off_t n;
        stream.flushBuffer(chunk, n);
        file.insert(file.end(), (Uint8 *)chunk, (Uint8 *)chunk + n);
    } while (cond == EC_StreamNotifyClient);
    ff.transferEnd();
    if (cond.bad()) return fail(e, API_INTERNAL, "cannot write the DICOM object: %s", cond.text());
    *out = (uint8_t *)malloc(file.size());
    if (!*out) return fail(e, API_INTERNAL, "out of memory writing the DICOM object");
    memcpy(*out, file.data(), file.size());
    *out_len = file.size();
    return API_OK;
}

// Legacy DA/TM values ("1997.04.24", "14:04:38") rewritten as DICOM 3 ("19970424",
// "140438"): dcmseg refuses to write the legacy forms it imports.
static void normalise_dates(DcmItem *ds) {
    static const DcmTagKey dates[] = {DCM_StudyDate, DCM_SeriesDate, DCM_ContentDate, DCM_AcquisitionDate,
                                      DCM_PatientBirthDate};
    static const DcmTagKey times[] = {DCM_StudyTime, DCM_SeriesTime, DCM_ContentTime, DCM_AcquisitionTime};
    for (int kind = 0; kind < 2; kind++) {
        const DcmTagKey *tags = kind ? times : dates;
        size_t n = kind ? sizeof times / sizeof times[0] : sizeof dates / sizeof dates[0];
        for (size_t i = 0; i < n; i++) {
            OFString v, clean;
            if (ds->findAndGetOFString(tags[i], v).bad()) continue;
            for (char c : v) /* dates: digits only; times: everything but ':' (fractions keep their '.') */
                if (kind ? c != ':' : (c >= '0' && c <= '9')) clean += c;
            if (clean != v) ds->putAndInsertOFStringArray(tags[i], clean);
        }
    }
}

static void now_da_tm(char da[9], char tm[7]) {
    time_t t = time(NULL);
    struct tm g;
    gmtime_r(&t, &g);
    strftime(da, 9, "%Y%m%d", &g);
    strftime(tm, 7, "%H%M%S", &g);
}

// Patient and study attributes of the source, copied into a new object.
static void copy_patient_study(DcmItem *from, DcmItem *to) {
    static const DcmTagKey tags[] = {DCM_PatientName,
                                     DCM_PatientID,
                                     DCM_IssuerOfPatientID,
                                     DCM_PatientBirthDate,
                                     DCM_PatientSex,
                                     DCM_StudyInstanceUID,
                                     DCM_StudyDate,
                                     DCM_StudyTime,
                                     DCM_StudyID,
                                     DCM_AccessionNumber,
                                     DCM_ReferringPhysicianName,
                                     DCM_StudyDescription,
                                     DCM_SpecificCharacterSet};
    for (const DcmTagKey &tag : tags) {
        DcmElement *el = NULL;
        if (from->findAndGetElement(tag, el).good() && el) to->insert((DcmElement *)el->clone(), OFTrue);
    }
    // type 2 in the Patient and General Study modules: present, empty when the source lacks them
    static const DcmTagKey type2[] = {DCM_PatientName,    DCM_PatientID, DCM_PatientBirthDate,       DCM_PatientSex,
                                      DCM_StudyDate,      DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID,
                                      DCM_AccessionNumber};
    for (const DcmTagKey &tag : type2)
        if (!to->tagExists(tag)) to->insertEmptyElement(tag);
    normalise_dates(to);
}

// The SEG and the SC reference the source by its UIDs: each must be there and valid (DCMTK
// also leaks the reference it was building when one is not).
static api_status source_uids_valid(DcmDataset *ds, api_error *e) {
    static const struct {
        DcmTagKey tag;
        const char *name;
    } uids[] = {{DCM_StudyInstanceUID, "StudyInstanceUID"},
                {DCM_SeriesInstanceUID, "SeriesInstanceUID"},
                {DCM_SOPInstanceUID, "SOPInstanceUID"},
                {DCM_SOPClassUID, "SOPClassUID"}};
    for (auto &u : uids) {
        OFString v;
        if (ds->findAndGetOFString(u.tag, v).bad() || v.empty() || DcmUniqueIdentifier::checkStringValue(v, "1").bad())
            return fail(e, API_UNPROCESSABLE,
                        "the source's %s is missing or not a valid UID: a DICOM output cannot "
                        "reference it",
                        u.name);
    }
    return API_OK;
}

extern "C" api_status api_dicom_seg(api_dicom *src, const int *frames, const uint8_t *const *labels, int n_frames,
                                    const api_dicom_maker *maker, uint8_t **out, size_t *out_len, api_error *e) {
    *out = NULL, *out_len = 0;
    const api_dicom_info *info = &src->info;
    if (n_frames < 1 || maker->n_classes < 1) return fail(e, API_INTERNAL, "nothing to write into a SEG");
    if (source_uids_valid(src->ds, e)) return e->status;
    DcmDataset source(*src->ds); // a copy, dates normalised for dcmseg
    normalise_dates(&source);
    char software[64];
    snprintf(software, sizeof software, "lgmsd %s", LGMSD_VERSION);
    IODGeneralEquipmentModule::EquipmentInfo eq("lgmsd", maker->model_id, "0", software);
    ContentIdentificationMacro ci("1", "LGMSD", "LGMSNet segmentation by lgmsd", "lgmsd^service");
    DcmSegmentation *seg = NULL;
    OFCondition cond =
        DcmSegmentation::createBinarySegmentation(seg, (Uint16)info->rows, (Uint16)info->columns, eq, ci);
    if (cond.bad() || !seg) return fail(e, API_INTERNAL, "cannot create the SEG: %s", cond.text());
    if (!info->has_frame_of_reference) { // most ultrasound: no Frame of Reference to share
        seg->getRules()->getByTag(DCM_FrameOfReferenceUID)->setType("3");
        seg->getRules()->getByTag(DCM_PositionReferenceIndicator)->setType("3");
    }
    cond = seg->importFromSourceImage(source);
    char description[96];
    snprintf(description, sizeof description, "lgmsd %s segmentation", maker->model_name);
    if (cond.good()) cond = seg->getSeries().setSeriesDescription(description);
    if (cond.good()) cond = seg->getSeries().setSeriesNumber("9901");
    if (cond.good()) cond = seg->getGeneralImage().setInstanceNumber("1");
    // shared: pixel spacing, and the plane orientation when there is a Frame of Reference
    if (cond.good() && info->has_spacing) {
        FGPixelMeasures meas;
        char sp[64];
        snprintf(sp, sizeof sp, "%.10g\\%.10g", info->spacing[0], info->spacing[1]);
        meas.setPixelSpacing(sp);
        OFString thickness;
        if (info->has_frame_of_reference) /* with a Frame of Reference, the slice thickness too */
            meas.setSliceThickness(source.findAndGetOFString(DCM_SliceThickness, thickness).good() && !thickness.empty()
                                       ? thickness
                                       : OFString("1"));
        cond = seg->addForAllFrames(meas);
    }
    OFString orient[6], pos[3];
    int oriented = info->has_frame_of_reference;
    for (int k = 0; oriented && k < 6; k++)
        oriented = source.findAndGetOFString(DCM_ImageOrientationPatient, orient[k], k).good();
    for (int k = 0; oriented && k < 3; k++)
        oriented = source.findAndGetOFString(DCM_ImagePositionPatient, pos[k], k).good();
    if (cond.good() && info->has_frame_of_reference) {
        FGPlaneOrientationPatient po;
        if (oriented)
            po.setImageOrientationPatient(orient[0], orient[1], orient[2], orient[3], orient[4], orient[5]);
        else
            po.setImageOrientationPatient("1", "0", "0", "0", "1", "0");
        cond = seg->addForAllFrames(po);
    }
    // one segment per foreground class
    char algo[96];
    snprintf(algo, sizeof algo, "lgmsd %s", maker->model_name);
    for (int c = 1; cond.good() && c <= maker->n_classes; c++) {
        DcmSegment *s = NULL;
        CodeSequenceMacro category("85756007", "SCT", "Tissue");
        CodeSequenceMacro type("85756007", "SCT", "Tissue");
        cond = DcmSegment::create(s, maker->labels[c - 1], category, type, DcmSegTypes::SAT_AUTOMATIC, algo);
        Uint16 number = 0;
        if (cond.good()) cond = seg->addSegment(s, number);
        if (cond.bad()) delete s; // the SEG owns a segment only once added
    }
    // frames: for each source frame, one per segment, each derived from its source frame
    size_t plane = (size_t)info->rows * info->columns;
    std::vector<Uint8> bits(plane);
    for (int f = 0; cond.good() && f < n_frames; f++) {
        ImageSOPInstanceReferenceMacro ref;
        ref.setReferencedSOPClassUID(info->sop_class_uid);
        ref.setReferencedSOPInstanceUID(info->sop_uid);
        if (multiframe_class(info)) ref.addReferencedFrameNumber((Uint16)(frames[f] + 1)); // after create: IS pitfall
        OFVector<ImageSOPInstanceReferenceMacro> refs;
        refs.push_back(ref);
        FGDerivationImage *deriv = DcmSegmentation::createDerivationImageFG(refs, "Segmentation by lgmsd");
        if (!deriv) {
            cond = EC_MemoryExhausted;
            break;
        }
        for (int c = 1; cond.good() && c <= maker->n_classes; c++) {
            for (size_t i = 0; i < plane; i++)
                bits[i] = labels[f][i] == c;
            FGSegmentation fgseg;
            fgseg.setReferencedSegmentNumber((Uint16)c);
            FGFrameContent content; /* a stack of the source frames, by their number */
            content.setStackID("1");
            content.setInStackPositionNumber((Uint32)(frames[f] + 1));
            content.setDimensionIndexValues((Uint32)c, 0);
            content.setDimensionIndexValues((Uint32)(frames[f] + 1), 1);
            FGPlanePosPatient plane_pos;
            OFVector<FGBase *> per_frame;
            per_frame.push_back(&fgseg);
            per_frame.push_back(&content);
            per_frame.push_back(deriv);
            if (info->has_frame_of_reference) {
                if (oriented)
                    plane_pos.setImagePositionPatient(pos[0], pos[1], pos[2]);
                else
                    plane_pos.setImagePositionPatient("0", "0", "0");
                per_frame.push_back(&plane_pos);
            }
            cond = seg->addFrame(bits.data(), (Uint16)c, per_frame);
        }
        delete deriv;
    }
    // dimensions: segment number, then the source frame
    if (cond.good()) {
        char uid[65];
        dcmGenerateUniqueIdentifier(uid);
        IODMultiframeDimensionModule &dims = seg->getDimensions();
        cond = dims.addDimensionIndex(DCM_ReferencedSegmentNumber, uid, DCM_SegmentIdentificationSequence,
                                      "Segment number");
        if (cond.good())
            cond = dims.addDimensionIndex(DCM_InStackPositionNumber, uid, DCM_FrameContentSequence, "Source frame");
    }
    // the source series, for viewers that pair a SEG with its series through it
    if (cond.good()) {
        OFString patient_id;
        source.findAndGetOFString(DCM_PatientID, patient_id);
        IODReferences references;
        OFVector<Uint32> ref_frames;
        for (int f = 0; multiframe_class(info) && f < n_frames; f++)
            ref_frames.push_back((Uint32)(frames[f] + 1));
        references.add(new IODImageReference(patient_id, info->study_uid, info->series_uid, info->sop_uid,
                                             info->sop_class_uid, ref_frames));
        if (seg->getCommonInstanceReference().addReferences(references, info->study_uid) != 1) cond = EC_IllegalCall;
    }
    char da[9], tm[7];
    now_da_tm(da, tm);
    if (cond.good()) seg->getGeneralImage().setContentDate(da), seg->getGeneralImage().setContentTime(tm);
    api_status st = API_OK;
    if (cond.bad()) {
        st = fail(e, API_INTERNAL, "cannot build the SEG: %s", cond.text());
    } else {
        DcmFileFormat ff;
        cond = seg->writeDataset(*ff.getDataset());
        // without a Frame of Reference, the image has no orientation: Patient Orientation
        // (type 2C) is then required, empty when unknown
        if (cond.good() && !info->has_frame_of_reference && !ff.getDataset()->tagExists(DCM_PatientOrientation))
            cond = ff.getDataset()->insertEmptyElement(DCM_PatientOrientation);
        st = cond.bad() ? fail(e, API_INTERNAL, "cannot write the SEG: %s", cond.text())
                        : to_memory(ff, out, out_len, e);
    }
    delete seg;
    return st;
}

extern "C" api_status api_dicom_sc(api_dicom *src, const int *frames, const uint8_t *const *rgb, int n_frames,
                                   const api_dicom_maker *maker, uint8_t **out, size_t *out_len, api_error *e) {
    *out = NULL, *out_len = 0;
    const api_dicom_info *info = &src->info;
    if (n_frames < 1) return fail(e, API_INTERNAL, "nothing to write into a secondary capture");
    if (source_uids_valid(src->ds, e)) return e->status;
    DcmFileFormat ff;
    DcmDataset *ds = ff.getDataset();
    copy_patient_study(src->ds, ds);
    char series[65], sop[65], da[9], tm[7], text[128];
    dcmGenerateUniqueIdentifier(series, SITE_SERIES_UID_ROOT);
    dcmGenerateUniqueIdentifier(sop, SITE_INSTANCE_UID_ROOT);
    now_da_tm(da, tm);
    int multi = n_frames > 1;
    OFCondition cond = ds->putAndInsertString(DCM_SOPClassUID, multi ? SC_MULTIFRAME_STORAGE : SC_STORAGE);
    snprintf(text, sizeof text, "lgmsd %s overlay", maker->model_name);
    struct {
        const DcmTagKey tag;
        const char *value;
    } values[] = {{DCM_SOPInstanceUID, sop},
                  {DCM_SeriesInstanceUID, series},
                  {DCM_Modality, "OT"},
                  {DCM_SeriesNumber, "9902"},
                  {DCM_SeriesDescription, text},
                  {DCM_InstanceNumber, "1"},
                  {DCM_ConversionType, "WSD"},
                  {DCM_ImageType, "DERIVED\\SECONDARY"},
                  {DCM_ContentDate, da},
                  {DCM_ContentTime, tm},
                  {DCM_Manufacturer, "lgmsd"},
                  {DCM_SecondaryCaptureDeviceManufacturer, "lgmsd"},
                  {DCM_SecondaryCaptureDeviceManufacturerModelName, maker->model_id},
                  {DCM_SoftwareVersions, LGMSD_VERSION},
                  {DCM_DerivationDescription, "LGMSNet segmentation overlay by lgmsd"},
                  {DCM_PhotometricInterpretation, "RGB"},
                  {DCM_PatientOrientation, ""}};
    for (auto &v : values)
        if (cond.good()) cond = ds->putAndInsertString(v.tag, v.value);
    OFString burned, laterality;
    if (cond.good()) /* type 2C: the source's, else empty (unknown) */
        cond = ds->putAndInsertString(
            DCM_Laterality, src->ds->findAndGetOFString(DCM_Laterality, laterality).good() ? laterality.c_str() : "");
    if (cond.good())
        cond = ds->putAndInsertString(
            DCM_BurnedInAnnotation,
            src->ds->findAndGetOFString(DCM_BurnedInAnnotation, burned).good() && !burned.empty() ? burned.c_str()
                                                                                                  : "NO");
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_SamplesPerPixel, 3);
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_Rows, (Uint16)info->rows);
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_Columns, (Uint16)info->columns);
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_BitsAllocated, 8);
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_BitsStored, 8);
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_HighBit, 7);
    if (cond.good()) cond = ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
    if (cond.good() && multi) {
        char nf[16];
        snprintf(nf, sizeof nf, "%d", n_frames);
        cond = ds->putAndInsertString(DCM_NumberOfFrames, nf);
        if (cond.good()) cond = ds->putAndInsertTagKey(DCM_FrameIncrementPointer, DCM_FrameTime);
        if (cond.good()) cond = ds->putAndInsertString(DCM_FrameTime, "0");
        if (cond.good()) cond = ds->putAndInsertString(DCM_BurnedInAnnotation, burned.empty() ? "NO" : burned.c_str());
    }
    if (cond.good() && info->has_spacing && !multi) {
        char sp[64];
        snprintf(sp, sizeof sp, "%.10g\\%.10g", info->spacing[0], info->spacing[1]);
        cond = ds->putAndInsertString(DCM_NominalScannedPixelSpacing, sp);
    }
    // the source image (and its frames) this was derived from
    if (cond.good()) {
        DcmItem *item = NULL;
        cond = ds->findOrCreateSequenceItem(DCM_SourceImageSequence, item, 0);
        if (cond.good()) cond = item->putAndInsertString(DCM_ReferencedSOPClassUID, info->sop_class_uid);
        if (cond.good()) cond = item->putAndInsertString(DCM_ReferencedSOPInstanceUID, info->sop_uid);
        if (cond.good() && multiframe_class(info)) {
            OFString list;
            for (int f = 0; f < n_frames; f++) {
                char num[16];
                snprintf(num, sizeof num, "%s%d", f ? "\\" : "", frames[f] + 1);
                list += num;
            }
            cond = item->putAndInsertOFStringArray(DCM_ReferencedFrameNumber, list);
        }
    }
    size_t plane = (size_t)info->rows * info->columns * 3;
    std::vector<Uint8> pixels;
    if (cond.good()) {
        pixels.resize(plane * n_frames + (plane * n_frames) % 2);
        for (int f = 0; f < n_frames; f++)
            memcpy(pixels.data() + plane * f, rgb[f], plane);
        cond = ds->putAndInsertUint8Array(DCM_PixelData, pixels.data(), (unsigned long)pixels.size());
    }
    if (cond.bad()) return fail(e, API_INTERNAL, "cannot build the secondary capture: %s", cond.text());
    return to_memory(ff, out, out_len, e);
}
