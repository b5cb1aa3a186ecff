"""The protobuf wire format, as much of it as the CRI client (harness.cri) needs: varints, length-delimited
fields (strings, bytes, sub-messages, map entries) — no schema, no code generation.

Encoding: ``message(*fields)`` joins encoded fields; ``uint(n, v)``, ``sint64``-free ``int64(n, v)`` (two's
complement varint, as proto3 ``int64``/``int32``/enums are sent), ``string(n, s)``, ``sub(n, *fields)``
(always present, even when empty: presence matters for wrappers such as ``Int64Value``), ``repeated_string``,
``string_map``.  proto3 scalars equal to their default are left out, as protoc-generated code does.

Decoding: ``decode(data)`` → ``{field number: [values]}`` where a value is an ``int`` (varint, fixed32,
fixed64) or ``bytes`` (length-delimited); ``Msg`` wraps that with typed accessors.
"""

from __future__ import annotations

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """Malformed protobuf bytes."""


def varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num: int, wire: int) -> bytes:
    return varint((num << 3) | wire)


def int64(num: int, v: int) -> bytes:
    """int32/int64/uint32/uint64/bool/enum field; omitted when 0 (proto3 default)."""
    return _key(num, VARINT) + varint(int(v)) if v else b""


uint = int64


def boolean(num: int, v: bool) -> bytes:
    return int64(num, 1 if v else 0)


def raw(num: int, data: bytes) -> bytes:
    """A length-delimited field, always present."""
    return _key(num, LENGTH) + varint(len(data)) + data


def string(num: int, s) -> bytes:
    """string/bytes field; omitted when empty (proto3 default)."""
    if not s:
        return b""
    return raw(num, s.encode() if isinstance(s, str) else bytes(s))


def sub(num: int, *fields: bytes) -> bytes:
    """A sub-message field (always present)."""
    return raw(num, b"".join(fields))


def repeated_string(num: int, items) -> bytes:
    return b"".join(raw(num, str(s).encode()) for s in items)


def string_map(num: int, mapping) -> bytes:
    """map<string, string>: one entry message (key = 1, value = 2) per item, in key order."""
    return b"".join(sub(num, raw(1, str(k).encode()), raw(2, str(v).encode()))
                    for k, v in sorted((mapping or {}).items()))


def message(*fields: bytes) -> bytes:
    return b"".join(fields)


def _read_varint(data: bytes, i: int) -> tuple:
    shift = 0
    v = 0
    while True:
        if i >= len(data):
            raise WireError("truncated varint")
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def decode(data: bytes) -> dict:
    """Field number → list of values (int for varint/fixed, bytes for length-delimited)."""
    out: dict = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == VARINT:
            v, i = _read_varint(data, i)
        elif wire == LENGTH:
            n, i = _read_varint(data, i)
            if i + n > len(data):
                raise WireError(f"field {num}: length {n} past the end")
            v, i = bytes(data[i:i + n]), i + n
        elif wire == FIXED64:
            v, i = int.from_bytes(data[i:i + 8], "little"), i + 8
        elif wire == FIXED32:
            v, i = int.from_bytes(data[i:i + 4], "little"), i + 4
        else:
            raise WireError(f"field {num}: unsupported wire type {wire}")
        if i > len(data):
            raise WireError(f"field {num}: truncated")
        out.setdefault(num, []).append(v)
    return out


class Msg:
    """A decoded message with typed accessors (absent fields give proto3 defaults)."""

    def __init__(self, data: bytes = b""):
        self.fields = decode(data)

    def int(self, num: int, signed: bool = True) -> int:
        v = self.fields.get(num, [0])[-1]
        if not isinstance(v, int):
            raise WireError(f"field {num} is not a varint")
        if signed and v >= 1 << 63:
            v -= 1 << 64
        return v

    def int32(self, num: int) -> int:
        v = self.int(num) & 0xFFFFFFFF
        return v - (1 << 32) if v >= 1 << 31 else v

    def bytes(self, num: int) -> bytes:
        v = self.fields.get(num, [b""])[-1]
        if not isinstance(v, bytes):
            raise WireError(f"field {num} is not length-delimited")
        return v

    def str(self, num: int) -> str:
        return self.bytes(num).decode(errors="replace")

    def strs(self, num: int) -> list:
        return [v.decode(errors="replace") for v in self.fields.get(num, []) if isinstance(v, bytes)]

    def has(self, num: int) -> bool:
        return num in self.fields

    def sub(self, num: int) -> "Msg":
        return Msg(self.bytes(num))

    def subs(self, num: int) -> list:
        return [Msg(v) for v in self.fields.get(num, []) if isinstance(v, bytes)]

    def map(self, num: int) -> dict:
        return {e.str(1): e.str(2) for e in self.subs(num)}
