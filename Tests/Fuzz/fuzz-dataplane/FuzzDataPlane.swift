import FuzzTargets

/// Runs the target on one input; libFuzzer calls it for every input it makes, and requires it to return 0.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    DataPlaneFuzz.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// Built with -sanitize=fuzzer -DFUZZING (ops/fuzz.sh), the executable hands over to libFuzzer; built plainly, it
// replays the inputs named on its command line (a corpus check, a crash reproducer). A @main type either way, not
// main.swift: the fuzz build needs -parse-as-library, which refuses top-level code even inside an inactive #if.
@main
enum FuzzDataPlane {
    static func main() {
        #if FUZZING
            LibFuzzerDriver.main(fuzz)
        #else
            CorpusReplay.main(DataPlaneFuzz.run)
        #endif
    }
}
