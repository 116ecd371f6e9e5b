import NIOCore

extension JSONObject {
    /// This body with top-level members changed, the rest spliced as sent: `{`, then every member not named in
    /// `names` with its name and value exactly as they are in the body, then the `setting` members, each taking
    /// the place of the member of the same name or appended, then `}`. Each `json` of `setting` is written as it
    /// is and must be a JSON value.
    ///
    /// Used to ask the storage server for more than the client did (a full item on a GetItem miss, ALL_NEW on an
    /// UpdateItem) without decoding and re-encoding the request.
    package func rewritten(
        removing names: Set<String>,
        setting: [(name: String, json: String)],
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var output = allocator.buffer(
            capacity: body.readableBytes + setting.reduce(0) { $0 + $1.name.utf8.count + $1.json.utf8.count + 4 })
        var written = Array(repeating: false, count: setting.count)
        var first = true
        body.withUnsafeReadableBytes { bytes in
            let json = ValidatedJSON(bytes: bytes)
            output.writeStaticString("{")
            for member in members {
                let name = json.decodeString(contents: member.name)
                if let index = setting.firstIndex(where: { $0.name == name }) {
                    // A repeated member is written once, at its first place.
                    guard !written[index] else { continue }
                    written[index] = true
                    JSONWriter.writeMember(setting[index].name, json: setting[index].json, first: &first, into: &output)
                } else if !names.contains(name) {
                    JSONWriter.writeRawMember(member, of: bytes, first: &first, into: &output)
                }
            }
        }
        for (index, member) in setting.enumerated() where !written[index] {
            JSONWriter.writeMember(member.name, json: member.json, first: &first, into: &output)
        }
        output.writeStaticString("}")
        return output
    }
}

extension JSONWriter {
    /// Writes `member` of the validated `bytes` as it is there (`"name"`, colon and value), after a comma unless
    /// it is the `first` member written.
    static func writeRawMember(
        _ member: JSONMember,
        of bytes: UnsafeRawBufferPointer,
        first: inout Bool,
        into buffer: inout ByteBuffer
    ) {
        if !first { buffer.writeStaticString(",") }
        first = false
        // The name range excludes the quotes; the opening one is the byte before it.
        writeRaw(bytes, member.name.lowerBound - 1..<member.value.range.upperBound, into: &buffer)
    }

    /// Writes `"name":json`, after a comma unless it is the `first` member written.
    static func writeMember(_ name: String, json: String, first: inout Bool, into buffer: inout ByteBuffer) {
        if !first { buffer.writeStaticString(",") }
        first = false
        writeString(name, into: &buffer)
        buffer.writeStaticString(":")
        buffer.writeString(json)
    }

    /// Copies `range` of `bytes`.
    @inline(__always)
    static func writeRaw(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, into buffer: inout ByteBuffer) {
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }
}
