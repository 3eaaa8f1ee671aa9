"""FNV-1a (64 bit) of a text's UTF-8 bytes: the hash of the plan checksum
(format/PlanChecksum.h) and of the dropout keys (runtime/backend/Philox.h).
Standard library only, so that scripts without PyTorch can use it."""


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h
