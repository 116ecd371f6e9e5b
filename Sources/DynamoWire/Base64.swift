/// Decoding of the standard Base64 alphabet, for binary key values.
enum Base64 {
    /// Appends the bytes `text` encodes; false when it is not Base64. Padding is optional, as in lenient decoders,
    /// and unused trailing bits are ignored, so every spelling of the same bytes decodes alike.
    static func decode(_ text: String, appendingTo out: inout [UInt8]) -> Bool {
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        var length = 0
        for byte in text.utf8 {
            length += 1
            if byte == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            guard padding == 0, let sextet = sextet(byte) else { return false }
            accumulator = accumulator << 6 | UInt32(sextet)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Six leftover bits cannot come from any byte; padding, when present, must complete a 4-character group.
        return bits != 6 && padding <= 2 && (padding == 0 || length % 4 == 0)
    }

    static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
