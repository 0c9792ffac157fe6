"""nghttp2's HDDeflater/HDInflater documentation example, run through trio_h2.

Deflates two header fields, prints the header block in hex, inflates it back and
prints both dynamic tables, which must hold the same entries.
"""

import binascii

from trio_h2.compat import nghttp2


def main() -> None:
    deflater = nghttp2.HDDeflater()
    data = deflater.deflate([(b"foo", b"bar"), (b"baz", b"buz")])
    print(binascii.b2a_hex(data).decode("ascii"))

    inflater = nghttp2.HDInflater()
    hdrs = inflater.inflate(data)
    print(hdrs)

    print("deflater table:")
    nghttp2.print_hd_table(deflater.get_hd_table())
    print("inflater table:")
    nghttp2.print_hd_table(inflater.get_hd_table())


if __name__ == "__main__":
    main()
