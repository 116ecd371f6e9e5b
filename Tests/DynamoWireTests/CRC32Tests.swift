import NIOCore
import Testing

@testable import DynamoWire

@Suite struct CRC32Tests {
    private func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { CRC32.checksum($0) }
    }

    @Test func knownVectors() {
        #expect(crc([]) == 0)
        #expect(crc(Array("a".utf8)) == 3_904_355_907)
        #expect(crc(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    /// Expected values from Python's `zlib.crc32`.
    @Test func matchesZlib() {
        #expect(CRC32.checksum(buffer(#"{"TableName":"users","Key":{"pk":{"S":"user#1"}}}"#)) == 4_023_137_793)
        #expect(CRC32.checksum(buffer("{}")) == 2_745_614_147)
        #expect(crc(Array((0..<768).map { UInt8($0 % 256) })) == 2_965_430_058)
        #expect(CRC32.checksum(buffer("héllo wörld ✓")) == 180_982_638)
    }

    @Test func continuesAcrossPieces() {
        let bytes = Array((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let whole = crc(bytes)
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = crc(Array(bytes[..<split]))
            let second = bytes[split...].withUnsafeBytes { CRC32.checksum($0, continuing: first) }
            #expect(second == whole, "split at \(split)")
        }
    }

    @Test func readsOnlyReadableBytes() {
        var buffer = buffer("xx123456789")
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(CRC32.checksum(buffer) == 0xCBF4_3926)
    }
}
