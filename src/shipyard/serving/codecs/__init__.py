"""Protocol codecs: bytes in a protocol's shape <-> model inputs and outputs. No I/O, no web imports."""
