import NIOCore

/// What a table's stream carries in each record (`StreamViewType`).
package enum StreamViewType: String, Sendable {
    case keysOnly = "KEYS_ONLY"
    case newImage = "NEW_IMAGE"
    case oldImage = "OLD_IMAGE"
    case newAndOldImages = "NEW_AND_OLD_IMAGES"

    /// Whether records carry the item as it is after the change.
    package var hasNewImages: Bool { self == .newImage || self == .newAndOldImages }
}

/// What a DescribeTable answer says of the table's key and its stream.
package struct TableStreamDescription: Sendable, Equatable {
    /// Key attribute names, partition key first.
    package var keyAttributes: [String]
    /// The stream's ARN and view type while a stream is enabled; nil when none is.
    package var stream: (arn: String, viewType: StreamViewType)?

    package init(keyAttributes: [String], stream: (arn: String, viewType: StreamViewType)?) {
        self.keyAttributes = keyAttributes
        self.stream = stream
    }

    package static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.keyAttributes == rhs.keyAttributes && lhs.stream?.arn == rhs.stream?.arn
            && lhs.stream?.viewType == rhs.stream?.viewType
    }

    /// Reads a DescribeTable answer.
    package init(parsing body: ByteBuffer) throws(WireError) {
        keyAttributes = try TableDescriptionKeySchema(parsing: body).keyAttributes
        let object = try JSONObject(parsing: body)
        stream = try object.withJSON { json throws(WireError) -> (arn: String, viewType: StreamViewType)? in
            guard let table = try json.member("Table", of: object.members) else { return nil }
            try json.expect(table, .object, field: "Table")
            let fields = Array(json.members(of: table))
            guard let specification = try json.member("StreamSpecification", of: fields) else { return nil }
            try json.expect(specification, .object, field: "StreamSpecification")
            let specificationFields = Array(json.members(of: specification))
            guard try json.bool(json.member("StreamEnabled", of: specificationFields), field: "StreamEnabled") == true,
                let arn = try json.string(json.member("LatestStreamArn", of: fields), field: "LatestStreamArn"),
                let view = try json.string(
                    json.member("StreamViewType", of: specificationFields), field: "StreamViewType")
            else { return nil }
            guard let viewType = StreamViewType(rawValue: view) else {
                throw .invalidField(field: "StreamViewType", reason: .keyMismatch)
            }
            return (arn, viewType)
        }
    }
}

/// One shard of a stream, as DescribeStream lists it.
package struct StreamShard: Sendable, Equatable {
    package var id: String
    package var parentID: String?
    /// Set once the shard is closed: it gets no more records.
    package var endingSequenceNumber: String?

    package init(id: String, parentID: String? = nil, endingSequenceNumber: String? = nil) {
        self.id = id
        self.parentID = parentID
        self.endingSequenceNumber = endingSequenceNumber
    }
}

/// A DescribeStream answer (one page of shards).
package struct StreamDescription: Sendable, Equatable {
    /// `ENABLING`, `ENABLED`, `DISABLING` or `DISABLED`.
    package var status: String
    package var shards: [StreamShard]
    /// Where the next page starts; nil on the last page.
    package var lastEvaluatedShardID: String?

    package init(status: String, shards: [StreamShard], lastEvaluatedShardID: String? = nil) {
        self.status = status
        self.shards = shards
        self.lastEvaluatedShardID = lastEvaluatedShardID
    }

    package init(parsing body: ByteBuffer) throws(WireError) {
        let object = try JSONObject(parsing: body)
        (status, shards, lastEvaluatedShardID) = try object.withJSON { json throws(WireError) in
            let description = try json.required(
                json.member("StreamDescription", of: object.members), field: "StreamDescription")
            try json.expect(description, .object, field: "StreamDescription")
            let fields = Array(json.members(of: description))
            let status = try json.required(
                json.string(json.member("StreamStatus", of: fields), field: "StreamStatus"), field: "StreamStatus")
            var shards: [StreamShard] = []
            if let list = try json.member("Shards", of: fields) {
                try json.expect(list, .array, field: "Shards")
                for element in json.elements(of: list) {
                    try json.expect(element, .object, field: "Shards")
                    let shard = Array(json.members(of: element))
                    let id = try json.required(
                        json.string(json.member("ShardId", of: shard), field: "ShardId"), field: "ShardId")
                    let parent = try json.string(json.member("ParentShardId", of: shard), field: "ParentShardId")
                    var ending: String?
                    if let range = try json.member("SequenceNumberRange", of: shard) {
                        try json.expect(range, .object, field: "SequenceNumberRange")
                        ending = try json.string(
                            json.member("EndingSequenceNumber", of: Array(json.members(of: range))),
                            field: "EndingSequenceNumber")
                    }
                    shards.append(StreamShard(id: id, parentID: parent, endingSequenceNumber: ending))
                }
            }
            let last = try json.string(json.member("LastEvaluatedShardId", of: fields), field: "LastEvaluatedShardId")
            return (status, shards, last)
        }
    }
}

/// One change to one item, from GetRecords.
package struct StreamRecord: Sendable, Equatable {
    package enum Event: String, Sendable {
        case insert = "INSERT"
        case modify = "MODIFY"
        case remove = "REMOVE"
    }

    package var event: Event
    package var keys: AttributeMap
    /// The item after the change (streams with new images; never on REMOVE).
    package var newImage: AttributeMap?
    package var sequenceNumber: String
    /// When the change was made, in Unix seconds by the storage server's clock (DynamoDB rounds it down to the
    /// second).
    package var approximateCreation: Double

    package init(
        event: Event, keys: AttributeMap, newImage: AttributeMap? = nil, sequenceNumber: String,
        approximateCreation: Double
    ) {
        self.event = event
        self.keys = keys
        self.newImage = newImage
        self.sequenceNumber = sequenceNumber
        self.approximateCreation = approximateCreation
    }
}

/// A GetRecords answer.
package struct StreamRecordsPage: Sendable, Equatable {
    package var records: [StreamRecord]
    /// Nil once the shard is closed and every record of it was returned.
    package var nextShardIterator: String?

    package init(records: [StreamRecord], nextShardIterator: String?) {
        self.records = records
        self.nextShardIterator = nextShardIterator
    }

    package init(parsing body: ByteBuffer) throws(WireError) {
        let object = try JSONObject(parsing: body)
        (records, nextShardIterator) = try object.withJSON { json throws(WireError) in
            var records: [StreamRecord] = []
            if let list = try json.member("Records", of: object.members) {
                try json.expect(list, .array, field: "Records")
                for element in json.elements(of: list) {
                    try json.expect(element, .object, field: "Records")
                    let fields = Array(json.members(of: element))
                    let name = try json.required(
                        json.string(json.member("eventName", of: fields), field: "eventName"), field: "eventName")
                    guard let event = StreamRecord.Event(rawValue: name) else {
                        throw .invalidField(field: "eventName", reason: .keyMismatch)
                    }
                    let change = try json.required(json.member("dynamodb", of: fields), field: "dynamodb")
                    try json.expect(change, .object, field: "dynamodb")
                    let changeFields = Array(json.members(of: change))
                    let keys = try json.attributeMap(
                        json.required(json.member("Keys", of: changeFields), field: "Keys"), field: "Keys")
                    let image = try json.member("NewImage", of: changeFields).map { value throws(WireError) in
                        try json.attributeMap(value, field: "NewImage")
                    }
                    let sequence = try json.required(
                        json.string(json.member("SequenceNumber", of: changeFields), field: "SequenceNumber"),
                        field: "SequenceNumber")
                    let created = try json.required(
                        json.member("ApproximateCreationDateTime", of: changeFields),
                        field: "ApproximateCreationDateTime")
                    try json.expect(created, .number, field: "ApproximateCreationDateTime")
                    let text = String(
                        decoding: UnsafeRawBufferPointer(rebasing: json.bytes[created.range]), as: UTF8.self)
                    guard let seconds = Double(text) else {
                        throw .invalidField(field: "ApproximateCreationDateTime", reason: .invalidNumber)
                    }
                    records.append(
                        StreamRecord(
                            event: event, keys: keys, newImage: image, sequenceNumber: sequence,
                            approximateCreation: seconds))
                }
            }
            let next = try json.string(
                json.member("NextShardIterator", of: object.members), field: "NextShardIterator")
            return (records, next)
        }
    }
}

/// The request bodies of the calls a stream follower makes.
package enum StreamsRequest {
    package static func describeTable(_ table: String) -> ByteBuffer {
        body {
            $0.writeStaticString(#"{"TableName":"#)
            JSONWriter.writeString(table, into: &$0)
        }
    }

    package static func describeStream(_ arn: String, exclusiveStartShardID: String?) -> ByteBuffer {
        body { buffer in
            buffer.writeStaticString(#"{"StreamArn":"#)
            JSONWriter.writeString(arn, into: &buffer)
            if let exclusiveStartShardID {
                buffer.writeStaticString(#","ExclusiveStartShardId":"#)
                JSONWriter.writeString(exclusiveStartShardID, into: &buffer)
            }
        }
    }

    /// Where an iterator starts.
    package enum IteratorStart: Sendable, Equatable {
        case latest
        case trimHorizon
        case afterSequenceNumber(String)
    }

    package static func getShardIterator(_ arn: String, shard: String, start: IteratorStart) -> ByteBuffer {
        body { buffer in
            buffer.writeStaticString(#"{"StreamArn":"#)
            JSONWriter.writeString(arn, into: &buffer)
            buffer.writeStaticString(#","ShardId":"#)
            JSONWriter.writeString(shard, into: &buffer)
            switch start {
            case .latest: buffer.writeStaticString(#","ShardIteratorType":"LATEST""#)
            case .trimHorizon: buffer.writeStaticString(#","ShardIteratorType":"TRIM_HORIZON""#)
            case .afterSequenceNumber(let sequence):
                buffer.writeStaticString(#","ShardIteratorType":"AFTER_SEQUENCE_NUMBER","SequenceNumber":"#)
                JSONWriter.writeString(sequence, into: &buffer)
            }
        }
    }

    package static func getRecords(_ iterator: String, limit: Int) -> ByteBuffer {
        body { buffer in
            buffer.writeStaticString(#"{"ShardIterator":"#)
            JSONWriter.writeString(iterator, into: &buffer)
            buffer.writeString(#","Limit":\#(limit)"#)
        }
    }

    /// The `ShardIterator` of a GetShardIterator answer.
    package static func shardIterator(in body: ByteBuffer) throws(WireError) -> String {
        let object = try JSONObject(parsing: body)
        return try object.withJSON { json throws(WireError) in
            try json.required(
                json.string(json.member("ShardIterator", of: object.members), field: "ShardIterator"),
                field: "ShardIterator")
        }
    }

    private static func body(_ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        write(&buffer)
        buffer.writeStaticString("}")
        return buffer
    }
}
