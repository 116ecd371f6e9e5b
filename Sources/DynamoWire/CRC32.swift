import NIOCore

/// CRC-32 as in IEEE 802.3 and zlib (reflected polynomial 0xEDB88320): the checksum DynamoDB sends, and boto3
/// verifies, in `x-amz-crc32` as the decimal text of the unsigned value.
///
/// Slicing-by-8: eight 256-entry tables let each step consume eight bytes with eight lookups instead of eight
/// dependent table steps.
package enum CRC32 {
    /// The CRC-32 of `bytes`; pass the previous result as `previous` to continue over data in pieces.
    package static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = ~previous
        var i = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { table in
            while i + 8 <= count {
                let low = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                crc =
                    table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int(low >> 8 & 0xFF)]
                    ^ table[5 * 256 + Int(low >> 16 & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int(high >> 8 & 0xFF)]
                    ^ table[256 + Int(high >> 16 & 0xFF)] ^ table[Int(high >> 24)]
                i += 8
            }
            while i < count {
                crc = table[Int((crc ^ UInt32(bytes[i])) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
        }
        return ~crc
    }

    /// The CRC-32 of the readable bytes of `buffer`.
    package static func checksum(_ buffer: ByteBuffer) -> UInt32 {
        buffer.withUnsafeReadableBytes { checksum($0) }
    }

    /// Whether `body` matches an `x-amz-crc32` header; true without one (not every service sends it).
    package static func matches(header: String?, body: ByteBuffer) -> Bool {
        guard let header else { return true }
        return UInt32(header) == checksum(body)
    }

    /// Table k (entries k*256 ..< (k+1)*256) gives the CRC of a byte followed by k zero bytes.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1
            }
            tables[byte] = crc
        }
        for k in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(k - 1) * 256 + byte]
                tables[k * 256 + byte] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return tables
    }()
}
