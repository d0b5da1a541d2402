"""Structural check of a MATLAB v5 file before scipy reads it.

scipy's compiled v5 reader trusts the file: an invalid data type in an element tag (one
flipped byte is enough) crashes the whole process with a segmentation fault (seen with
scipy 1.17). This walks every element tag, inside compressed and matrix elements too, and
rejects what scipy cannot read safely: unknown types, sizes running past their parent,
unknown array classes, negative dimensions.
"""

from __future__ import annotations

import struct
import zlib

VALID_TYPES = {1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 16, 17, 18}
MI_MATRIX, MI_COMPRESSED, MI_INT32, MI_UINT32 = 14, 15, 5, 6
MAX_INFLATED = 4 << 30  # a compressed element may not claim more than 4 GiB


class Mat5Error(ValueError):
    """The file is not a well-formed MATLAB v5 file; the message says where."""


def check_mat5(data: bytes) -> None:
    if len(data) < 128:
        raise Mat5Error("shorter than the 128-byte MATLAB header")
    endian = data[126:128]
    if endian == b"IM":
        order = "<"
    elif endian == b"MI":
        order = ">"
    else:
        raise Mat5Error("no MATLAB 5 endian indicator in the header (not a v5 .mat file)")
    _walk(memoryview(data), 128, len(data), order, depth=0, top=True)


def _tag(buf, pos: int, end: int, order: str) -> tuple[int, int, int, int]:
    """(type, nbytes, data start, next element position)."""
    if end - pos < 8:
        raise Mat5Error(f"element tag at byte {pos} is cut off")
    first, second = struct.unpack_from(order + "II", buf, pos)
    if first >> 16:  # small data element: size and type packed in 4 bytes
        mdtype, nbytes = first & 0xFFFF, first >> 16
        if nbytes > 4:
            raise Mat5Error(f"small element at byte {pos} claims {nbytes} bytes")
        return mdtype, nbytes, pos + 4, pos + 8
    mdtype, nbytes = first, second
    start = pos + 8
    if nbytes > end - start:
        raise Mat5Error(f"element at byte {pos} claims {nbytes} bytes, only {end - start} remain")
    nxt = start + nbytes
    if mdtype != MI_COMPRESSED:
        nxt += (-nbytes) % 8
    return mdtype, nbytes, start, min(nxt, end)


def _walk(buf, pos: int, end: int, order: str, depth: int, top: bool = False) -> None:
    if depth > 64:
        raise Mat5Error("elements nested too deeply")
    while pos < end:
        if top and end - pos < 8 and not any(buf[pos:end]):
            return  # trailing padding
        mdtype, nbytes, start, nxt = _tag(buf, pos, end, order)
        if mdtype not in VALID_TYPES:
            raise Mat5Error(f"element at byte {pos} has unknown data type {mdtype}")
        if mdtype == MI_COMPRESSED:
            if not top:
                raise Mat5Error(f"compressed element inside another element at byte {pos}")
            inflater = zlib.decompressobj()
            try:
                inner = inflater.decompress(bytes(buf[start:start + nbytes]), MAX_INFLATED)
            except zlib.error as err:
                raise Mat5Error(f"compressed element at byte {pos} is corrupt ({err})") from None
            _walk(memoryview(inner), 0, len(inner), order, depth + 1, top=False)
        elif mdtype == MI_MATRIX:
            _check_matrix(buf, start, start + nbytes, order, depth + 1)
        elif top:
            raise Mat5Error(f"top-level element at byte {pos} is not a variable (type {mdtype})")
        pos = nxt


def _check_matrix(buf, pos: int, end: int, order: str, depth: int) -> None:
    if pos == end:
        return  # an empty matrix element is legal (empty cell content)
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype != MI_UINT32 or nbytes != 8:
        raise Mat5Error(f"matrix at byte {start} lacks its array-flags element")
    flags = struct.unpack_from(order + "I", buf, start)[0]
    mx_class = flags & 0xFF
    if mx_class not in READABLE_CLASSES:
        raise Mat5Error(f"matrix at byte {start} has array class {mx_class}, which is unknown or not "
                        "used by dataset files (sparse, object, function handle)")
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype != MI_INT32 or nbytes % 4:
        raise Mat5Error(f"matrix at byte {start} lacks its dimensions element")
    dims = struct.unpack_from(f"{order}{nbytes // 4}i", buf, start)
    if any(d < 0 for d in dims):
        raise Mat5Error(f"matrix at byte {start} has negative dimensions {dims}")
    count = 1
    for d in dims:
        count *= d
    mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
    if mdtype != 1:
        raise Mat5Error(f"matrix at byte {start} lacks its name element")
    if mx_class == 1:  # cell: one matrix element per cell
        subs = _children(buf, pos, end, order)
        if len(subs) != count or any(t != MI_MATRIX for t, _, _ in subs):
            raise Mat5Error(f"cell array at byte {start} holds {len(subs)} elements for {count} cells")
        for _, s0, n in subs:
            _check_matrix(buf, s0, s0 + n, order, depth + 1)
    elif 6 <= mx_class <= 15:  # numeric: real part, and imaginary part when flagged complex
        complex_ = bool(flags & 0x800)
        subs = _children(buf, pos, end, order)
        if len(subs) != 1 + complex_:
            raise Mat5Error(f"numeric matrix at byte {start} has {len(subs)} data parts, expected {1 + complex_}")
        for t, _, n in subs:
            size = ITEMSIZE.get(t)
            if size is None or n != count * size:
                raise Mat5Error(f"numeric matrix at byte {start}: {n} data bytes do not fit {count} values of type {t}")
    elif mx_class == 4:  # char: one data element, one code per character
        subs = _children(buf, pos, end, order)
        if len(subs) != (1 if count else len(subs)) or len(subs) > 1:
            raise Mat5Error(f"char array at byte {start} has {len(subs)} data parts, expected 1")
        for t, _, n in subs:
            if t in ITEMSIZE and n != count * ITEMSIZE[t] or t == MI_MATRIX:
                raise Mat5Error(f"char array at byte {start}: {n} data bytes do not fit {count} characters")
    else:  # struct: field name length, field names, then one matrix per field and element
        _walk(buf, pos, end, order, depth)


READABLE_CLASSES = {1, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}


def _children(buf, pos: int, end: int, order: str) -> list[tuple[int, int, int]]:
    out = []
    while pos < end:
        mdtype, nbytes, start, pos = _tag(buf, pos, end, order)
        if mdtype not in VALID_TYPES or mdtype == MI_COMPRESSED:
            raise Mat5Error(f"element at byte {start} has unknown data type {mdtype}")
        out.append((mdtype, start, nbytes))
    return out
