import NIOCore

/// What the load generator needs of one HTTP/1.1 response: its status, whether the connection stays open, the
/// proxy's `x-dynamo-cache` verdict and, when asked for, the body.
package struct ParsedResponse: Sendable {
    package var status: Int
    package var keepAlive: Bool
    package var cacheStatus: CacheVerdict
    /// Kept only for error answers, to read their `__type`.
    package var body: ByteBuffer?
}

/// The `x-dynamo-cache` header of a response; `.none` when the server sent none (the storage server itself).
package enum CacheVerdict: String, Sendable, CaseIterable, Codable {
    case hit, miss, partial, bypass, write, rejected, none

    /// Read on every answer, so without making a String: the values differ in length.
    init(headerValue: ByteBufferView.SubSequence) {
        let candidates: [Int: (CacheVerdict, StaticString)] = Self.byLength
        guard let (verdict, text) = candidates[headerValue.count],
            ResponseParser.equalsIgnoringCase(headerValue, text)
        else {
            self = .none
            return
        }
        self = verdict
    }

    private static let byLength: [Int: (CacheVerdict, StaticString)] = [
        3: (.hit, "hit"), 4: (.miss, "miss"), 7: (.partial, "partial"), 6: (.bypass, "bypass"), 5: (.write, "write"),
        8: (.rejected, "rejected"),
    ]
}

package enum ResponseParseError: Error, Equatable {
    case malformedHead
    case malformedChunk
}

/// An incremental HTTP/1.1 response parser over a cumulation buffer, doing only the work the load generator
/// needs: NIO's general decoder materialises every header as a String, which would make the generator, not the
/// server under test, the bottleneck on a hit path of a few microseconds.
package struct ResponseParser {
    private enum State {
        case head
        case fixedBody(status: Int, keepAlive: Bool, verdict: CacheVerdict, remaining: Int)
        case chunkSize(status: Int, keepAlive: Bool, verdict: CacheVerdict)
        case chunkData(status: Int, keepAlive: Bool, verdict: CacheVerdict, remaining: Int)
        case trailers(status: Int, keepAlive: Bool, verdict: CacheVerdict)
        case untilClose(status: Int, verdict: CacheVerdict)
    }

    private var state = State.head
    private var body: ByteBuffer?

    package init() {}

    /// True while a response has started but not finished.
    package var isMidResponse: Bool {
        if case .head = state { return false }
        return true
    }

    /// Consumes what it can of `buffer`; returns a response when one is complete (call again for the next).
    package mutating func next(_ buffer: inout ByteBuffer) throws(ResponseParseError) -> ParsedResponse? {
        while true {
            switch state {
            case .head:
                guard let headEnd = Self.find(Self.crlfcrlf, in: buffer) else { return nil }
                let head = buffer.readSlice(length: headEnd + 4)!
                try startBody(head: head)
            case .fixedBody(let status, let keepAlive, let verdict, let remaining):
                let take = min(remaining, buffer.readableBytes)
                keep(buffer.readSlice(length: take)!, status: status)
                if take < remaining {
                    state = .fixedBody(
                        status: status, keepAlive: keepAlive, verdict: verdict, remaining: remaining - take)
                    return nil
                }
                return finish(status: status, keepAlive: keepAlive, verdict: verdict)
            case .chunkSize(let status, let keepAlive, let verdict):
                guard let lineEnd = Self.find(Self.crlf, in: buffer) else { return nil }
                let line = buffer.readSlice(length: lineEnd + 2)!
                var size = 0
                var sawDigit = false
                for byte in line.readableBytesView {
                    guard let digit = Self.hexValue(byte) else { break }
                    guard size < 1 << 40 else { throw .malformedChunk }
                    size = size * 16 + digit
                    sawDigit = true
                }
                guard sawDigit else { throw .malformedChunk }
                state =
                    size == 0
                    ? .trailers(status: status, keepAlive: keepAlive, verdict: verdict)
                    : .chunkData(status: status, keepAlive: keepAlive, verdict: verdict, remaining: size + 2)
            case .chunkData(let status, let keepAlive, let verdict, let remaining):
                let take = min(remaining, buffer.readableBytes)
                var slice = buffer.readSlice(length: take)!
                // The last two bytes of `remaining` are the chunk's CRLF, not data.
                let dataBytes = max(0, min(take, remaining - 2))
                keep(slice.readSlice(length: dataBytes)!, status: status)
                if take < remaining {
                    state = .chunkData(
                        status: status, keepAlive: keepAlive, verdict: verdict, remaining: remaining - take)
                    return nil
                }
                state = .chunkSize(status: status, keepAlive: keepAlive, verdict: verdict)
            case .trailers(let status, let keepAlive, let verdict):
                guard let lineEnd = Self.find(Self.crlf, in: buffer) else { return nil }
                buffer.moveReaderIndex(forwardBy: lineEnd + 2)
                if lineEnd == 0 { return finish(status: status, keepAlive: keepAlive, verdict: verdict) }
            case .untilClose(let status, _):
                keep(buffer.readSlice(length: buffer.readableBytes)!, status: status)
                return nil
            }
        }
    }

    /// The connection closed: completes a response framed by the close, if one was being read.
    package mutating func finishAtClose() -> ParsedResponse? {
        guard case .untilClose(let status, let verdict) = state else { return nil }
        return finish(status: status, keepAlive: false, verdict: verdict)
    }

    private mutating func startBody(head: ByteBuffer) throws(ResponseParseError) {
        let status = try head.withUnsafeReadableBytes { bytes throws(ResponseParseError) -> Int in
            // "HTTP/1.1 200 ..."
            guard bytes.count >= 12, bytes[0] == UInt8(ascii: "H"), bytes[8] == UInt8(ascii: " ") else {
                throw .malformedHead
            }
            var status = 0
            for index in 9..<12 {
                let digit = Int(bytes[index]) - 48
                guard (0...9).contains(digit) else { throw .malformedHead }
                status = status * 10 + digit
            }
            return status
        }
        let http10 = head.getInteger(at: head.readerIndex + 7, as: UInt8.self) == UInt8(ascii: "0")
        var keepAlive = !http10
        var contentLength: Int?
        var chunked = false
        var verdict = CacheVerdict.none
        var lines = head
        _ = lines.readSlice(length: Self.find(Self.crlf, in: lines)! + 2)
        while let lineEnd = Self.find(Self.crlf, in: lines), lineEnd > 0 {
            let line = lines.readSlice(length: lineEnd + 2)!
            let view = line.readableBytesView
            guard let colon = view.firstIndex(of: UInt8(ascii: ":")) else { throw .malformedHead }
            let name = view[view.startIndex..<colon]
            var valueStart = colon + 1
            while valueStart < view.endIndex, view[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            var valueEnd = view.endIndex - 2
            while valueEnd > valueStart, view[valueEnd - 1] == UInt8(ascii: " ") { valueEnd -= 1 }
            let value = view[valueStart..<valueEnd]
            if Self.equalsIgnoringCase(name, "content-length") {
                var length = 0
                for byte in value {
                    guard (48...57).contains(byte), length < 1 << 40 else { throw .malformedHead }
                    length = length * 10 + Int(byte - 48)
                }
                contentLength = length
            } else if Self.equalsIgnoringCase(name, "transfer-encoding") {
                chunked = Self.equalsIgnoringCase(value, "chunked")
            } else if Self.equalsIgnoringCase(name, "connection") {
                if Self.equalsIgnoringCase(value, "close") { keepAlive = false }
                if Self.equalsIgnoringCase(value, "keep-alive") { keepAlive = true }
            } else if Self.equalsIgnoringCase(name, "x-dynamo-cache") {
                verdict = CacheVerdict(headerValue: value)
            }
        }
        body = nil
        if chunked {
            state = .chunkSize(status: status, keepAlive: keepAlive, verdict: verdict)
        } else if let contentLength {
            state = .fixedBody(status: status, keepAlive: keepAlive, verdict: verdict, remaining: contentLength)
        } else if status == 204 || status == 304 || (100..<200).contains(status) {
            state = .fixedBody(status: status, keepAlive: keepAlive, verdict: verdict, remaining: 0)
        } else {
            state = .untilClose(status: status, verdict: verdict)
        }
    }

    private mutating func keep(_ slice: ByteBuffer, status: Int) {
        guard status >= 400, slice.readableBytes > 0 else { return }
        if body == nil {
            body = slice
        } else {
            var incoming = slice
            body!.writeBuffer(&incoming)
        }
    }

    private mutating func finish(status: Int, keepAlive: Bool, verdict: CacheVerdict) -> ParsedResponse {
        state = .head
        defer { body = nil }
        let kept = body ?? (status >= 400 ? ByteBuffer() : nil)
        return ParsedResponse(status: status, keepAlive: keepAlive, cacheStatus: verdict, body: kept)
    }

    private static let crlf: [UInt8] = [13, 10]
    private static let crlfcrlf: [UInt8] = [13, 10, 13, 10]

    /// Offset of `needle` in the readable bytes, if present.
    static func find(_ needle: [UInt8], in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            guard bytes.count >= needle.count else { return nil }
            let first = needle[0]
            var index = 0
            let last = bytes.count - needle.count
            while index <= last {
                if bytes[index] == first {
                    var matched = true
                    for offset in 1..<needle.count where bytes[index + offset] != needle[offset] {
                        matched = false
                        break
                    }
                    if matched { return index }
                }
                index += 1
            }
            return nil
        }
    }

    static func equalsIgnoringCase(_ bytes: ByteBufferView.SubSequence, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        var index = 0
        for byte in bytes {
            let folded = (65...90).contains(byte) ? byte + 32 : byte
            guard folded == expected[index] else { return false }
            index += 1
        }
        return true
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 48...57: Int(byte - 48)
        case 97...102: Int(byte - 87)
        case 65...70: Int(byte - 55)
        default: nil
        }
    }
}
