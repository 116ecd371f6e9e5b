import NIOCore

/// Request ids in DynamoDB's shape (52 upper-case letters and digits) for answers the proxy composes itself;
/// answers from the storage server keep the server's id. One generator per connection: no shared state, and a
/// few multiplications per id instead of a system call.
struct RequestIDGenerator {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    /// wyrand: fast, well mixed, and plenty for ids that only need to be distinct.
    private mutating func next() -> UInt64 {
        state &+= 0xA076_1D64_78BD_642F
        let product = state.multipliedFullWidth(by: state ^ 0xE703_7ED1_A0B4_28DB)
        return product.high ^ product.low
    }

    /// The next id's 52 letters and digits, written straight into `buffer`.
    mutating func write(into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 52) { bytes in
            var bits = next()
            for i in 0..<52 {
                if i % 12 == 0 { bits = next() }  // 12 draws of 5+ bits from each 64-bit word
                bytes[i] = Self.alphabet[Int(bits % 36)]
                bits /= 36
            }
            return 52
        }
    }
}
