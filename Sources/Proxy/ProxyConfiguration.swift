/// What the proxy caches and for how long. Durations are nanoseconds of a monotonic clock; 0 means "no expiry".
package struct ProxyConfiguration: Sendable {
    /// Bytes of memory the item cache may use (entries, keys and bookkeeping).
    package var itemCacheBytes: Int
    /// Lifetime of an item entry from the moment it is stored; a hit does not extend it. 0 = no time expiry.
    package var itemTTL: UInt64
    /// Lifetime of an entry recording that an item does not exist. 0 = no time expiry.
    package var negativeTTL: UInt64
    /// Items whose stored answer is larger than this are not cached.
    package var maxItemEntryBytes: Int
    /// Lock stripes of the item cache (a power of two).
    package var shards: Int
    /// Whether the proxy may change a request before forwarding it: read the full item on a projected miss,
    /// ask UpdateItem for ALL_NEW. A changed body no longer matches the client's SigV4 signature, so this must be
    /// off when clients' signatures are forwarded to a storage server that verifies them; with it off those
    /// requests are forwarded as sent and their keys are evicted or left uncached. Requests the proxy signs itself
    /// are signed after any rewrite.
    package var rewriteRequests: Bool
    /// Bytes of memory the query cache (Query, Scan) may use.
    package var queryCacheBytes: Int
    /// Lifetime of a query or scan page from the moment it is stored. 0 turns the query cache off (DAX's meaning).
    package var queryTTL: UInt64
    /// Query and scan pages larger than this are not cached.
    package var maxQueryEntryBytes: Int
    /// What a write does to the query cache.
    package var queryInvalidation: QueryInvalidation
    /// Whose entries a request may be served when the proxy does not authenticate clients itself (with client
    /// authentication, the namespace is always the verified client).
    package var namespaces: NamespaceRule
    /// Requests this node may have waiting on the storage server at once; past it, a request that needs the
    /// storage server is answered at once with ThrottlingException (which every SDK retries with back-off) and
    /// hits go on being served, so a stalled storage server cannot make requests pile up without bound.
    package var upstreamMaxInflight: Int
    /// Whose DynamoDB Streams are followed (`--streams`); nil: none, and writes that bypass this node are seen
    /// only when entries expire.
    package var streams: StreamScope?
    /// A followed table is answered from the storage server while its follower is further behind than this.
    package var streamMaxLag: UInt64
    /// How far the storage server's clock, which dates stream records (to the second), may be from ours: a
    /// record replaces an entry only if the entry was stored at least this long before the record's change.
    package var streamClockMargin: UInt64
    /// How long after a change seen in a stream a fill of its key (or a page that may hold it) is not stored:
    /// an eventually consistent read made that soon may not show the change yet (DynamoDB's replicas converge
    /// within about a second).
    package var streamFillFence: UInt64
    /// Tables cached otherwise than the defaults say (`--table-policy`), by plain table name.
    package var tablePolicies: [String: TablePolicy]

    /// How cache namespaces are told apart without client authentication.
    package enum NamespaceRule: Sendable {
        /// The access key id and region of the caller's own signature, which the storage server checks
        /// (`--upstream-auth forward`): a caller is never served what another caller's keys read.
        case callerSignature
        /// One namespace: every request reaches the storage server with the proxy's own credentials
        /// (`--upstream-auth sign`), so every caller reads the same data.
        case shared
    }

    /// How writes through the proxy affect cached query and scan pages.
    package enum QueryInvalidation: String, Sendable {
        /// Every write to a table makes its cached pages (and its indexes') stale before the write is answered.
        case write
        /// Writes leave cached pages alone until their TTL ends, as DAX's query cache does.
        case ttl
    }

    package init(
        itemCacheBytes: Int = 256 << 20,
        itemTTL: UInt64 = 300_000_000_000,
        negativeTTL: UInt64 = 60_000_000_000,
        maxItemEntryBytes: Int = 512 << 10,
        shards: Int = 64,
        rewriteRequests: Bool = true,
        queryCacheBytes: Int = 64 << 20,
        queryTTL: UInt64 = 300_000_000_000,
        maxQueryEntryBytes: Int = 2 << 20,
        queryInvalidation: QueryInvalidation = .write,
        namespaces: NamespaceRule = .callerSignature,
        upstreamMaxInflight: Int = 1024,
        streams: StreamScope? = nil,
        streamMaxLag: UInt64 = 5_000_000_000,
        streamClockMargin: UInt64 = 1_000_000_000,
        streamFillFence: UInt64 = 1_000_000_000,
        tablePolicies: [String: TablePolicy] = [:]
    ) {
        self.tablePolicies = tablePolicies
        self.streamFillFence = streamFillFence
        self.upstreamMaxInflight = upstreamMaxInflight
        self.streams = streams
        self.streamMaxLag = streamMaxLag
        self.streamClockMargin = streamClockMargin
        self.itemCacheBytes = itemCacheBytes
        self.itemTTL = itemTTL
        self.negativeTTL = negativeTTL
        self.maxItemEntryBytes = maxItemEntryBytes
        self.shards = shards
        self.rewriteRequests = rewriteRequests
        self.queryCacheBytes = queryCacheBytes
        self.queryTTL = queryTTL
        self.maxQueryEntryBytes = maxQueryEntryBytes
        self.queryInvalidation = queryInvalidation
        self.namespaces = namespaces
    }
}

/// How one table is cached when it differs from the defaults: a session table kept 30 s, an audit table never.
package struct TablePolicy: Sendable, Equatable {
    /// False: every read of the table goes to the storage server (`x-dynamo-cache: bypass`) and nothing of it is
    /// kept; writes still pass through as always.
    package var cached: Bool
    /// Lifetime of the table's item entries, and the longest an entry saying "no such item" is kept. 0 = no time
    /// expiry; nil = the default.
    package var itemTTL: UInt64?
    /// Lifetime of the table's Query and Scan pages; 0 = its pages are not cached; nil = the default.
    package var queryTTL: UInt64?

    package init(cached: Bool = true, itemTTL: UInt64? = nil, queryTTL: UInt64? = nil) {
        self.cached = cached
        self.itemTTL = itemTTL
        self.queryTTL = queryTTL
    }
}
