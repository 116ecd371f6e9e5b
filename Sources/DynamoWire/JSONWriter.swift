import NIOCore

/// Composes JSON text into a `ByteBuffer`.
package enum JSONWriter {
    /// Writes `text` as a JSON string: quotes, backslashes and control characters escaped (the latter as
    /// `\u00XX`), all other UTF-8 copied as is in runs.
    package static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("\"")
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            for (i, byte) in utf8.enumerated()
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart..<i]))
                runStart = i + 1
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
                case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
                default:
                    buffer.writeStaticString(#"\u00"#)
                    buffer.writeInteger(hexDigits[Int(byte >> 4)])
                    buffer.writeInteger(hexDigits[Int(byte & 0xF)])
                }
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart...]))
        }
        buffer.writeStaticString("\"")
    }

    /// `text` as a JSON string literal, for the few documents composed as text (admin answers, small members).
    package static func quoted(_ text: String) -> String {
        var buffer = ByteBuffer()
        writeString(text, into: &buffer)
        return String(buffer: buffer)
    }

    /// Writes `texts` as a JSON array of strings.
    static func writeStringArray(_ texts: [String], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("[")
        for (index, text) in texts.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            writeString(text, into: &buffer)
        }
        buffer.writeStaticString("]")
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
