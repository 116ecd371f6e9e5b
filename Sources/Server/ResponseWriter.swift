import NIOCore
import NIOHTTP1
import Proxy

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Encodes the data plane's answers as HTTP/1 bytes: the status line and fixed header names are static bytes,
/// the request id, date and content length are written as digits and letters straight into the buffer, and a
/// small body is copied behind its head, so an answer is one buffer and one write. This replaces NIO's
/// HTTPResponseEncoder, which builds each header as a String pair and sends head, body and end as three writes.
/// One per connection: the date and the request-id generator are its state, and nothing in it is shared.
struct ResponseWriter {
    /// Bodies up to this size travel in the head's buffer; larger ones are a second write (one writev either way).
    static let copiedBodyLimit = 8 * 1024

    private var requestIDs = RequestIDGenerator()
    private var date = HTTPDate()

    /// The whole answer to `request`. `keepAlive` false adds `connection: close`; an HTTP/1.0 request kept alive
    /// gets `connection: keep-alive`, which 1.0 needs to keep the connection. The answer to a HEAD request has the
    /// length of its body and no body.
    mutating func encode(
        _ response: ProxyResponse,
        to request: HTTPRequestHead,
        keepAlive: Bool,
        allocator: ByteBufferAllocator
    ) -> (head: ByteBuffer, body: ByteBuffer?) {
        let length = response.body.readableBytes
        let sendsBody = length > 0 && request.method != .HEAD
        let copiesBody = sendsBody && length <= Self.copiedBodyLimit
        var buffer = allocator.buffer(capacity: 256 + response.headers.count * 48 + (copiesBody ? length : 0))
        Self.writeStatusLine(version: request.version, status: response.status, into: &buffer)
        for (name, value) in response.headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        if response.needsRequestID {
            // Composed here: the storage server's answers carry their own id and date.
            buffer.writeStaticString("x-amzn-RequestId: ")
            requestIDs.write(into: &buffer)
            buffer.writeStaticString("\r\n")
            date.writeHeader(into: &buffer)
        }
        buffer.writeStaticString("content-length: ")
        buffer.writeDecimal(length)
        if !keepAlive {
            buffer.writeStaticString("\r\nconnection: close\r\n\r\n")
        } else if request.version.minor == 0 {
            buffer.writeStaticString("\r\nconnection: keep-alive\r\n\r\n")
        } else {
            buffer.writeStaticString("\r\n\r\n")
        }
        guard sendsBody else { return (buffer, nil) }
        guard copiesBody else { return (buffer, response.body) }
        var body = response.body
        buffer.writeBuffer(&body)
        return (buffer, nil)
    }

    /// `100 Continue`, for a request that asked before sending its body.
    static func continueHead(version: HTTPVersion, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 32)
        writeStatusLine(version: version, status: .continue, into: &buffer)
        buffer.writeStaticString("\r\n")
        return buffer
    }

    private static func writeStatusLine(version: HTTPVersion, status: HTTPResponseStatus, into buffer: inout ByteBuffer)
    {
        if version.major == 1, version.minor == 1 {
            switch status.code {
            case 200:
                buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
                return
            case 400:
                buffer.writeStaticString("HTTP/1.1 400 Bad Request\r\n")
                return
            case 500:
                buffer.writeStaticString("HTTP/1.1 500 Internal Server Error\r\n")
                return
            default: break
            }
        }
        buffer.writeStaticString("HTTP/")
        buffer.writeDecimal(version.major)
        buffer.writeStaticString(".")
        buffer.writeDecimal(version.minor)
        buffer.writeStaticString(" ")
        buffer.writeDecimal(Int(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
    }
}

extension ByteBuffer {
    /// `value` (≥ 0) in decimal digits, without a String in between.
    @discardableResult
    mutating func writeDecimal(_ value: Int) -> Int {
        precondition(value >= 0)
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { bytes in
            var rest = value
            for i in stride(from: digits - 1, through: 0, by: -1) {
                bytes[i] = UInt8(truncatingIfNeeded: 48 + rest % 10)
                rest /= 10
            }
            return digits
        }
    }
}

/// The `date` header (RFC 9110's IMF-fixdate, as DynamoDB sends it), formatted once per second of wall time
/// and copied into every composed answer of that second.
struct HTTPDate {
    private var second = Int.min
    private var line: [UInt8] = []
    private let now: () -> Int

    init(now: @escaping () -> Int = { Int(time(nil)) }) {
        self.now = now
    }

    mutating func writeHeader(into buffer: inout ByteBuffer) {
        let current = now()
        if current != second {
            second = current
            line = Array("date: \(Self.format(current))\r\n".utf8)
        }
        buffer.writeBytes(line)
    }

    /// `Wed, 02 Dec 2026 01:00:22 GMT` for seconds since 1970 (proleptic Gregorian, UTC).
    static func format(_ seconds: Int) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        let weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday: index 4 of Sun...Sat
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(weekdays[weekday]), \(two(day)) \(months[month - 1]) \(year) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }

    /// Howard Hinnant's days-to-civil: the Gregorian date `days` after 1970-01-01.
    private static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
