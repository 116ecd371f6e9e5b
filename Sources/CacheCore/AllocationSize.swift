/// What an allocation of some bytes really takes from the heap: jemalloc's size classes (16-byte steps up to 128,
/// then four classes per doubling: 160, 192, 224, 256, 320, ...). glibc's malloc rounds less, so charging by
/// these never undercounts. Entries are charged what they hold this way, so that the cache's budget bounds the
/// memory it keeps alive, not just the bytes it was asked to store.
public enum AllocationSize {
    /// The size class that holds `bytes` (0 for 0).
    @inlinable
    public static func rounded(_ bytes: Int) -> Int {
        guard bytes > 8 else { return bytes <= 0 ? 0 : 8 }
        guard bytes > 128 else { return (bytes + 15) & ~15 }
        // Four classes between 2^k and 2^(k+1): steps of 2^(k-2), where 2^k < bytes <= 2^(k+1).
        let k = Int.bitWidth - 1 - (bytes - 1).leadingZeroBitCount
        let step = 1 << (k - 2)
        return (bytes + step - 1) & ~(step - 1)
    }

    /// The heap bytes of a native Swift string's storage: none when it is small enough to live inline (up to 15
    /// UTF-8 bytes on 64-bit platforms), else a 32-byte header, the bytes and a terminating NUL.
    @inlinable
    public static func of(_ string: String) -> Int {
        let count = string.utf8.count
        return count <= 15 ? 0 : rounded(32 + count + 1)
    }

    /// The heap bytes of an array's storage: a 32-byte header and its capacity (none when it has none).
    @inlinable
    public static func of<Element>(_ array: [Element]) -> Int {
        array.capacity == 0 ? 0 : rounded(32 + array.capacity * MemoryLayout<Element>.stride)
    }
}
