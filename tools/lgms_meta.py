#!/usr/bin/python3
"""Show or set the metadata of a .lgms model file without touching its tensors:

    tools/lgms_meta.py model.lgms                      # print key=value lines
    tools/lgms_meta.py model.lgms demonstration=true   # set (or add) keys, rewrite in place

The tensor table and data are copied byte for byte; only their offsets move with the
metadata's size (docs/model-format.md)."""

import os
import struct
import sys

HEADER, ENTRY, ALIGN = 64, 128, 64
MAGIC, VERSION = b"LGMSNET\0", 1


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    path, changes = argv[0], argv[1:]
    with open(path, "rb") as f:
        buf = f.read()
    magic, version, count, meta_off, meta_size, table_off, data_off, data_size, _ = struct.unpack_from("<8sIIQQQQQQ", buf)
    if magic != MAGIC or version != VERSION:
        print("lgms_meta: %s is not an .lgms model file" % path, file=sys.stderr)
        return 1
    lines = buf[meta_off:meta_off + meta_size].decode("utf-8").splitlines()
    if not changes:
        print("\n".join(lines))
        return 0
    for change in changes:
        if "=" not in change or "\n" in change:
            print("lgms_meta: %r is not key=value" % change, file=sys.stderr)
            return 2
        key = change.split("=", 1)[0]
        lines = [l for l in lines if not l.startswith(key + "=")] + [change]
    meta = ("\n".join(lines) + "\n").encode("utf-8")
    table = buf[table_off:table_off + ENTRY * count]
    data = buf[data_off:data_off + data_size]
    new_table = (HEADER + len(meta) + 7) // 8 * 8
    new_data = (new_table + ENTRY * count + ALIGN - 1) // ALIGN * ALIGN
    header = struct.pack("<8sIIQQQQQQ", MAGIC, VERSION, count, HEADER, len(meta), new_table, new_data, data_size, 0)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header + meta + b"\0" * (new_table - HEADER - len(meta)) + table)
        f.write(b"\0" * (new_data - new_table - len(table)) + data)
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
