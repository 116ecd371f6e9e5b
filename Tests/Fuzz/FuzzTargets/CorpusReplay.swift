#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The `main` of a fuzz executable built without `-DFUZZING`: runs the target once on each file named on the
/// command line and on each file of each directory named there, so a plain build replays a corpus or reproduces
/// a crash under a debugger. Arguments starting with `-` (libFuzzer's flags) are ignored.
package enum CorpusReplay {
    package static func main(_ target: (UnsafeRawBufferPointer) -> Void) {
        let paths = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("-") }
        guard !paths.isEmpty else {
            print("usage: \(CommandLine.arguments[0]) FILE|DIRECTORY...  (runs the fuzz target once on each input)")
            exit(2)
        }
        var count = 0
        for path in paths {
            for file in files(at: path) {
                guard let bytes = contents(of: file) else {
                    print("cannot read \(file)")
                    exit(1)
                }
                bytes.withUnsafeBytes(target)
                count += 1
            }
        }
        print("replayed \(count) input(s)")
    }

    /// `path` itself, or the regular files directly in it when it is a directory, sorted.
    private static func files(at path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            let file = path + "/" + name
            var status = stat()
            guard !name.hasPrefix("."), stat(file, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
            names.append(file)
        }
        return names.sorted()
    }

    private static func contents(of path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[..<count])
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
