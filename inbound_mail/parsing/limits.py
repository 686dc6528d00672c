"""Hard limits against hostile input, shared by every stage of the parse."""

# Hard limits against hostile input. The stdlib parser itself copes with ~900 levels of
# nesting before RecursionError; we stop walking much earlier and stop counting parts so
# that a crafted message cannot make the pipeline do unbounded work.
MAX_DEPTH = 50
MAX_PARTS = 500
MAX_BOUNDARY_LINES = 20_000
MAX_BODY_CHARS = 2_000_000
MAX_HEADER_CHARS = 100_000
MAX_IDS = 100
MAX_ADDRESSES = 1_000
# Files inside attachments (parsing.unpacking): forwarded messages opened this deep, and
# the bytes their files and those of winmail.dat and uuencoded blocks may add in all.
MAX_UNPACK_DEPTH = 3
MAX_UNPACKED_BYTES = 50_000_000
